"""OAuth 2.0 Demonstrating Proof of Possession (DPoP), RFC 9449: checking proofs.

``DpopVerifier.verify`` performs every check of §4.3, in this order (the RFC allows any):

1. exactly one ``DPoP`` header field (§4.3 check 1), at most ``MAX_PROOF_BYTES`` long;
2. it holds one well-formed compact JWS (check 2; RFC 7515 §7.1) with JSON objects inside;
3. ``typ`` is ``dpop+jwt`` (check 4; §4.2); no ``crit`` extension is understood (RFC 7515
   §4.1.11), so a proof carrying one is refused;
4. ``alg`` is asymmetric, not ``none``, not a MAC, and in the allow-list (check 5);
5. ``jwk`` is a public key of the type and curve ``alg`` needs, without private members
   (check 7), and the signature verifies with it (check 6);
6. ``jti``, ``htm``, ``htu``, ``iat`` are present with their JSON types, ``nonce`` and ``ath``
   are strings when present (check 3);
7. ``htm`` equals the method (check 8); ``htu`` equals the request URI once both are
   normalised per RFC 3986 §6.2.2 and §6.2.3, query and fragment removed (check 9);
8. ``iat`` lies in ``[now - max_age - leeway, now + leeway]`` (check 11; §11.1);
9. with an access token, ``ath`` = base64url(SHA-256(token)) (check 12; §4.2, §7.1), and with a
   bound key, the proof key's RFC 7638 thumbprint equals ``cnf.jkt`` (check 12; §6.1);
10. the nonce, when one is required or present, is one this server issued and still honours
    (check 10; §8, §9, §11.3), else ``use_dpop_nonce`` with one fresh ``DPoP-Nonce``;
11. the ``jti`` is used once per key and target URI while the proof could be accepted (§11.1).

Errors: ``invalid_dpop_proof``, 400 at the authorization server (§5), 401 with
``WWW-Authenticate: DPoP error=..., algs=...`` at a resource server (§7.1); ``use_dpop_nonce``
likewise (§8, §9). At a resource server a proof key that differs from the token's ``cnf.jkt``
is ``invalid_token``, as in the example of §7.1 ("Invalid DPoP key binding"). Error
descriptions never echo the proof, the token or the key.

Speed: the signature is checked with ``cryptography`` directly and imported public keys are
kept in a small LRU keyed by thumbprint, so a client's second proof costs one signature check.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import struct
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from warden.tokens.errors import InvalidDpopProof, InvalidToken, OAuthError, UseDpopNonce
from warden.tokens.replay import ReplayCache
from warden.tokens.rfc7638 import b64url, jwk_thumbprint

DPOP_TYP = "dpop+jwt"
MAX_PROOF_BYTES = 8192  # a proof with an RSA-4096 key is about 1.5 KiB
MAX_JTI_CHARS = 256  # §11.1: refuse unnecessarily large jti values
MIN_RSA_BITS = 2048
DEFAULT_ALGS = ("ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA")

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_HEXDIG_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEFAULT_PORTS = {"http": 80, "https": 443}


# --- algorithms (RFC 7518 §3, RFC 8037 §3.1, RFC 9864 §2.2) ----------------------------


@dataclass(frozen=True, slots=True)
class _Alg:
    kty: str
    hash: type[hashes.HashAlgorithm] | None = None
    curve: str | None = None  # the JWK `crv` the algorithm requires
    sig_len: int = 0  # raw r||s length for ECDSA
    pss: bool = False


_ALGS: Mapping[str, _Alg] = {
    "ES256": _Alg("EC", hashes.SHA256, "P-256", 64),
    "ES384": _Alg("EC", hashes.SHA384, "P-384", 96),
    "ES512": _Alg("EC", hashes.SHA512, "P-521", 132),
    "RS256": _Alg("RSA", hashes.SHA256),
    "RS384": _Alg("RSA", hashes.SHA384),
    "RS512": _Alg("RSA", hashes.SHA512),
    "PS256": _Alg("RSA", hashes.SHA256, pss=True),
    "PS384": _Alg("RSA", hashes.SHA384, pss=True),
    "PS512": _Alg("RSA", hashes.SHA512, pss=True),
    "EdDSA": _Alg("OKP"),  # RFC 8037; RFC 9864 deprecates it for the two below
    "Ed25519": _Alg("OKP", curve="Ed25519"),  # RFC 9864 §2.2
    "Ed448": _Alg("OKP", curve="Ed448"),
}
SUPPORTED_ALGS = tuple(_ALGS)

_CURVES: Mapping[str, tuple[ec.EllipticCurve, int]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}

_PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified proof. ``jkt`` is its key's RFC 7638 SHA-256 thumbprint (``cnf.jkt``)."""

    jkt: str
    jti: str
    htm: str
    htu: str
    iat: int
    nonce: str | None
    ath: str | None
    public_jwk: Mapping[str, Any]


def ath_of(access_token: str) -> str:
    """The ``ath`` claim for ``access_token``: base64url(SHA-256(ASCII(token))) (§4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


# --- htu normalisation (RFC 3986 §6.2.2, §6.2.3) -------------------------------------------


@functools.lru_cache(maxsize=1024)
def normalise_htu(url: str) -> str:
    """``url`` normalised for comparison as an ``htu``, query and fragment removed.

    Syntax-based (§6.2.2): scheme and host in lower case, percent-encodings in upper case,
    unreserved characters decoded, dot segments removed. Scheme-based (§6.2.3): the default
    port and an empty port dropped, an empty path becomes ``/``. Raises ``ValueError`` for
    anything but an absolute URI of printable ASCII.
    """
    if not url or not url.isascii() or not url.isprintable() or " " in url:
        raise ValueError("not an absolute uri")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        raise ValueError("not an absolute uri")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("no host")
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        authority = f"{_normalise_escapes(userinfo)}@{authority}"
    path = _remove_dot_segments(_normalise_escapes(parts.path)) or "/"
    return f"{scheme}://{authority}{path}"


def _normalise_escapes(text: str) -> str:
    """§6.2.2.1 and §6.2.2.2: upper-case hex digits, decode unreserved characters."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _HEXDIG_ESCAPE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, used by §6.2.2.3."""
    output: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/" + "/".join(output) if path else ""


# --- server-issued nonces (§8, §9) ---------------------------------------------------------


class DpopNonces:
    """Stateless nonces: ``<issued-at>.<HMAC-SHA256(secret, issued-at)>``, base64url.

    A nonce is honoured for ``lifetime`` seconds after it was issued. Nothing is stored, so
    replicas that share ``secret`` honour each other's nonces; without one, a random secret
    is drawn for this process. Nonces are unpredictable without the secret (§8).
    """

    def __init__(self, secret: bytes | None = None, *, lifetime: int = 300) -> None:
        if lifetime <= 0:
            raise ValueError("nonce lifetime must be positive")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.lifetime = lifetime

    def issue(self, now: int) -> str:
        """A fresh nonce for the ``DPoP-Nonce`` header (``1*NQCHAR``, §8.1)."""
        stamp = struct.pack(">Q", now)
        return f"{b64url(stamp)}.{b64url(self._mac(stamp))}"

    def check(self, nonce: str, now: int) -> bool:
        """True if this server issued ``nonce`` no more than ``lifetime`` seconds ago."""
        if not isinstance(nonce, str) or len(nonce) != 11 + 1 + 22:
            return False
        stamp_text, _, mac_text = nonce.partition(".")
        stamp = _b64url_decode(stamp_text)
        mac = _b64url_decode(mac_text)
        if stamp is None or mac is None or len(stamp) != 8:
            return False
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return False
        (issued_at,) = struct.unpack(">Q", stamp)
        return bool(now - self.lifetime <= issued_at <= now)

    def _mac(self, stamp: bytes) -> bytes:
        return hmac.new(self._secret, stamp, hashlib.sha256).digest()[:16]


def _b64url_decode(text: str) -> bytes | None:
    """Strict base64url without padding; None when malformed."""
    if len(text) % 4 == 1 or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


# --- the verifier --------------------------------------------------------------------------


class DpopVerifier:
    """Checks DPoP proofs (§4.3) at the authorization server and at resource servers."""

    def __init__(
        self,
        replay: ReplayCache,
        nonces: DpopNonces,
        *,
        max_age: int = 300,
        leeway: int = 5,
        algs: tuple[str, ...] = DEFAULT_ALGS,
        key_cache_size: int = 1024,
    ) -> None:
        unknown = [alg for alg in algs if alg not in _ALGS]
        if unknown or not algs:
            # `none` and HS* are never in _ALGS: they cannot be configured in.
            raise ValueError(f"unsupported dpop algorithms: {', '.join(unknown) or 'none given'}")
        self.algs = tuple(algs)
        self.replay = replay
        self.nonces = nonces
        self.max_age = max_age
        self.leeway = leeway
        self._keys: OrderedDict[str, _PublicKey] = OrderedDict()
        self._key_cache_size = key_cache_size

    async def verify(
        self,
        dpop_headers: Sequence[str],
        *,
        method: str,
        url: str,
        now: int,
        access_token: str | None = None,
        bound_jkt: str | None = None,
        require_nonce: bool = False,
        at_resource_server: bool = False,
    ) -> DpopProof:
        """Verify the request's ``DPoP`` header values; returns the proof or raises
        ``InvalidDpopProof`` / ``UseDpopNonce`` (and, at a resource server, ``InvalidToken``
        when the proof key is not the token's)."""
        if at_resource_server and access_token is None:
            raise ValueError("a resource server verifies a proof together with its access token")
        try:
            proof = self._check_proof(dpop_headers, method, url, now)
            self._check_binding(proof, access_token, bound_jkt, at_resource_server)
            self._check_nonce(proof, now, require_nonce)
            key = _replay_key(proof)
            expires_at = proof.iat + self.max_age + self.leeway + 1
            if not await self.replay.first_use(key, expires_at, now):
                raise InvalidDpopProof("dpop proof was already used (`jti` replayed)")
        except OAuthError as error:
            raise self._for_server(error, at_resource_server) from None
        return proof

    # -- the checks

    def _check_proof(
        self, dpop_headers: Sequence[str], method: str, url: str, now: int
    ) -> DpopProof:
        if len(dpop_headers) != 1:
            raise InvalidDpopProof("exactly one `DPoP` header is required")
        token = dpop_headers[0].strip(" \t")
        if len(token) > MAX_PROOF_BYTES:
            raise InvalidDpopProof("dpop proof is too large")
        if _COMPACT_JWS.fullmatch(token) is None:
            raise InvalidDpopProof("dpop proof is not a compact jws")
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = _json_object(header_b64, "header")
        if header.get("typ") != DPOP_TYP:
            raise InvalidDpopProof("dpop proof `typ` must be `dpop+jwt`")
        if "crit" in header:
            raise InvalidDpopProof("dpop proof has unsupported `crit` parameters")
        alg_name = header.get("alg")
        if not isinstance(alg_name, str) or alg_name not in self.algs:
            raise InvalidDpopProof("dpop proof `alg` is not an accepted asymmetric algorithm")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDpopProof("dpop proof header has no `jwk` object")
        if any(member in jwk for member in _PRIVATE_MEMBERS):
            raise InvalidDpopProof("dpop proof `jwk` contains private key material")
        alg = _ALGS[alg_name]
        jkt, key = self._public_key(jwk, alg)
        signature = _b64url_decode(signature_b64)
        signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
        if signature is None or not _signature_valid(key, alg, signing_input, signature):
            raise InvalidDpopProof("dpop proof signature does not verify with its `jwk`")
        claims = _json_object(payload_b64, "payload")
        proof = _claims(claims, jkt, jwk)
        if proof.htm != method:
            raise InvalidDpopProof("dpop proof `htm` does not match the request method")
        try:
            matches = normalise_htu(proof.htu) == normalise_htu(url)
        except ValueError:
            matches = False
        if not matches:
            raise InvalidDpopProof("dpop proof `htu` does not match the request uri")
        if not now - self.max_age - self.leeway <= proof.iat <= now + self.leeway:
            raise InvalidDpopProof("dpop proof `iat` is outside the acceptable window")
        return proof

    def _check_binding(
        self,
        proof: DpopProof,
        access_token: str | None,
        bound_jkt: str | None,
        at_resource_server: bool,
    ) -> None:
        if access_token is not None:
            if proof.ath is None:
                raise InvalidDpopProof("dpop proof has no `ath` for the access token")
            if not hmac.compare_digest(proof.ath.encode(), ath_of(access_token).encode()):
                raise InvalidDpopProof("dpop proof `ath` does not match the access token")
        if bound_jkt is not None and not hmac.compare_digest(
            proof.jkt.encode(), bound_jkt.encode()
        ):
            if at_resource_server:
                raise InvalidToken("invalid dpop key binding")
            raise InvalidDpopProof("dpop proof key is not the key the grant is bound to")

    def _check_nonce(self, proof: DpopProof, now: int, require_nonce: bool) -> None:
        if proof.nonce is None and not require_nonce:
            return
        fresh = {"DPoP-Nonce": self.nonces.issue(now)}  # §8: exactly one DPoP-Nonce
        if proof.nonce is None:
            raise UseDpopNonce(
                "a server-provided `nonce` is required in the dpop proof", headers=fresh
            )
        if not self.nonces.check(proof.nonce, now):
            raise UseDpopNonce(
                "dpop proof `nonce` is not a current server-provided nonce", headers=fresh
            )

    # -- keys

    def _public_key(self, jwk: Mapping[str, Any], alg: _Alg) -> tuple[str, _PublicKey]:
        if jwk.get("kty") != alg.kty or (alg.curve is not None and jwk.get("crv") != alg.curve):
            raise InvalidDpopProof("dpop proof `jwk` does not fit its `alg`")
        try:
            jkt = jwk_thumbprint(jwk)
        except ValueError:
            raise InvalidDpopProof("dpop proof `jwk` is malformed") from None
        key = self._keys.get(jkt)
        if key is not None:
            self._keys.move_to_end(jkt)
            return jkt, key
        key = _import_public_key(jwk)
        self._keys[jkt] = key
        if len(self._keys) > self._key_cache_size:
            self._keys.popitem(last=False)
        return jkt, key

    # -- errors

    def _for_server(self, error: OAuthError, at_resource_server: bool) -> OAuthError:
        """The same error, with the status and headers of §5 (AS) or §7.1 and §9 (RS)."""
        if not at_resource_server:
            return type(error)(error.message, status=400, headers=error.headers)
        challenge = dpop_challenge(self.algs, error=error.code, description=error.message)
        return type(error)(
            error.message,
            status=401,
            headers={**error.headers, "WWW-Authenticate": challenge},
        )


def dpop_challenge(
    algs: Sequence[str],
    *,
    error: str | None = None,
    description: str | None = None,
    scope: Sequence[str] = (),
) -> str:
    """A ``DPoP`` challenge for ``WWW-Authenticate`` (§7.1): ``DPoP error="...", algs="..."``."""
    params: list[str] = []
    if error is not None:
        params.append(f'error="{error}"')
        if description:
            params.append(f'error_description="{quote_string(description)}"')
    if scope:
        params.append(f'scope="{quote_string(" ".join(scope))}"')
    params.append(f'algs="{" ".join(algs)}"')
    return "DPoP " + ", ".join(params)


def quote_string(text: str) -> str:
    """Content of an RFC 9110 quoted-string: printable ASCII, with ``"`` and ``\\`` escaped."""
    safe = "".join(c if c.isascii() and c.isprintable() else "?" for c in text)
    return safe.replace("\\", "\\\\").replace('"', '\\"')


def _json_object(segment: str, part: str) -> dict[str, Any]:
    raw = _b64url_decode(segment)
    try:
        value = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidDpopProof(f"dpop proof {part} is not a base64url json object")
    return value


def _claims(claims: Mapping[str, Any], jkt: str, jwk: Mapping[str, Any]) -> DpopProof:
    jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    nonce, ath = claims.get("nonce"), claims.get("ath")
    if not isinstance(jti, str) or not jti:
        raise InvalidDpopProof("dpop proof `jti` is missing or not a string")
    if len(jti) > MAX_JTI_CHARS:
        raise InvalidDpopProof("dpop proof `jti` is too long")
    if not isinstance(htm, str) or not htm:
        raise InvalidDpopProof("dpop proof `htm` is missing or not a string")
    if not isinstance(htu, str) or not htu:
        raise InvalidDpopProof("dpop proof `htu` is missing or not a string")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or iat != iat:
        raise InvalidDpopProof("dpop proof `iat` is missing or not a number")
    if abs(iat) > 2**53:
        raise InvalidDpopProof("dpop proof `iat` is out of range")
    if nonce is not None and (not isinstance(nonce, str) or not nonce):
        raise InvalidDpopProof("dpop proof `nonce` is not a string")
    if ath is not None and not isinstance(ath, str):
        raise InvalidDpopProof("dpop proof `ath` is not a string")
    return DpopProof(jkt, jti, htm, htu, int(iat), nonce, ath, dict(jwk))


def _replay_key(proof: DpopProof) -> str:
    """One-time use per key and target URI (§11.1), hashed so the key stays short."""
    material = "\x00".join((proof.jkt, normalise_htu(proof.htu), proof.jti)).encode("utf-8")
    return "dpop:" + b64url(hashlib.sha256(material).digest())


def _b64_int(value: Any) -> int:
    raw = _b64url_decode(value) if isinstance(value, str) else None
    if not raw:
        raise InvalidDpopProof("dpop proof `jwk` is malformed")
    return int.from_bytes(raw, "big")


def _import_public_key(jwk: Mapping[str, Any]) -> _PublicKey:
    """A ``cryptography`` public key from a public JWK (RFC 7518 §6.2, §6.3; RFC 8037 §2)."""
    kty = jwk["kty"]
    try:
        if kty == "EC":
            curve, size = _CURVES[jwk["crv"]]
            x, y = _b64url_decode(jwk["x"]), _b64url_decode(jwk["y"])
            if x is None or y is None or len(x) != size or len(y) != size:  # §6.2.1.2: full length
                raise InvalidDpopProof("dpop proof `jwk` is malformed")
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            )
            return numbers.public_key()  # checks the point is on the curve
        if kty == "RSA":
            n, e = _b64_int(jwk["n"]), _b64_int(jwk["e"])
            if n.bit_length() < MIN_RSA_BITS:
                raise InvalidDpopProof("dpop proof rsa key is shorter than 2048 bits")
            return rsa.RSAPublicNumbers(e, n).public_key()
        raw = _b64url_decode(jwk["x"])
        if raw is not None and jwk["crv"] == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(raw)
        if raw is not None and jwk["crv"] == "Ed448":
            return ed448.Ed448PublicKey.from_public_bytes(raw)
    except (KeyError, ValueError):
        pass
    raise InvalidDpopProof("dpop proof `jwk` is malformed")


def _signature_valid(key: _PublicKey, alg: _Alg, data: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != alg.sig_len or alg.hash is None:  # RFC 7518 §3.4: r || s
                return False
            half = alg.sig_len // 2
            r = int.from_bytes(signature[:half], "big")
            s = int.from_bytes(signature[half:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(alg.hash()))
        elif isinstance(key, rsa.RSAPublicKey):
            if alg.hash is None:
                return False
            scheme: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(alg.hash()), padding.PSS.DIGEST_LENGTH)
                if alg.pss
                else padding.PKCS1v15()
            )
            key.verify(signature, data, scheme, alg.hash())
        else:
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
