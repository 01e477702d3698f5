"""Warden as the SPIFFE issuer of one trust domain: X509-SVIDs, JWT-SVIDs and the bundle.

Specifications (spiffe/spiffe ``standards/``, checked at 665a28f):

- SPIFFE-ID.md §2: ID syntax (validated by :mod:`warden.registry.spiffe`), §2.3 2048 bytes.
- X509-SVID.md §2 (exactly one URI SAN), §3.1 (leaf: non-root path, SAN critical when the
  subject is empty), §3.2 (signing certificates), §4.1 to §4.4 (basic constraints, key usage,
  extended key usage), §5 (RFC 5280 path validation plus the leaf rules of §5.2), §6.1
  (bundle entries: ``use: x509-svid``, ``x5c``, no ``kid``).
- JWT-SVID.md §2 (only ``alg``, ``kid``, ``typ`` in the header; §2.1 the RS/ES/PS algorithm
  list; §2.3 ``typ`` is ``JWT`` or ``JOSE``), §3 (``sub``, ``aud``, ``exp`` required), §4
  (validation), §6.1 (bundle entries: ``use: jwt-svid`` with a ``kid``).
- SPIFFE_Trust_Domain_and_Bundle.md §4.1 (``keys``, ``spiffe_sequence``,
  ``spiffe_refresh_hint``), §4.2 (``kty`` and ``use`` on every key), §6.2 (keys are not
  shared across trust domains: each trust domain gets its own).

Errors::

    WardenError
    └── SvidError    invalid_spiffe_id | invalid_x509_svid | invalid_jwt_svid | svid_error

Messages say what was wrong, never what a key or token contained.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.errors import WardenError
from warden.registry.spiffe import MAX_LENGTH, spiffe_id_problem
from warden.tokens.svid_store import (
    JWT_SVID_USE,
    X509_CA_USE,
    StoredKey,
    insert_key,
    key_id,
    load_keys,
)

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
"""Keys a caller may have certified (what RFC 5280 path validation in ``cryptography`` takes)."""

JWT_SVID_ALGORITHMS = frozenset(
    f"{family}{bits}" for family in ("RS", "ES", "PS") for bits in (256, 384, 512)
)  # JWT-SVID §2.1
JWT_SVID_HEADERS = frozenset({"alg", "kid", "typ"})  # JWT-SVID §2: no other header allowed
JWT_SVID_TYPES = frozenset({"JWT", "JOSE"})  # JWT-SVID §2.3

CA_LIFETIME = timedelta(days=3650)
MAX_X509_TTL = 7 * 24 * 3600
MAX_JWT_TTL = 24 * 3600
REFRESH_HINT = 300  # seconds; bundle §4.1.2
LEEWAY = 30  # seconds of clock skew tolerated on exp / nbf / iat
MAX_JWT_LENGTH = 16 * 1024
_BACKDATE = timedelta(seconds=10)  # leaves are valid slightly before `now`: peers' clocks skew
_SIGNING_ALG = "ES256"
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


class SvidError(WardenError):
    """An SVID that cannot be issued or is not valid; ``code`` says which kind."""

    code = "svid_error"


@dataclass(frozen=True, slots=True)
class X509Svid:
    """An issued X509-SVID (PEM). ``key_pem`` is ``None`` when the caller kept its own key.

    ``chain_pem`` is the issuing chain above the leaf up to the root: here Warden's CA.
    """

    cert_pem: str
    key_pem: str | None
    chain_pem: str
    spiffe_id: str
    expires_at: datetime

    @property
    def serial(self) -> str:
        """The leaf's serial number in hex (for audit records)."""
        return format(x509.load_pem_x509_certificate(self.cert_pem.encode()).serial_number, "x")

    def __repr__(self) -> str:  # the private key stays out of logs and tracebacks
        return f"X509Svid(spiffe_id={self.spiffe_id!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True)
class _Ca:
    kid: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


@dataclass(frozen=True, slots=True)
class _JwtKey:
    kid: str
    alg: str
    key: ECKey


class SvidAuthority:
    """Warden as the SPIFFE issuer for one trust domain. Create with :meth:`open`."""

    def __init__(
        self,
        trust_domain: str,
        cas: Sequence[_Ca],
        jwt_keys: Sequence[_JwtKey],
        *,
        sequence: int,
        issuer: str | None = None,
    ) -> None:
        self.trust_domain = trust_domain
        self._cas = tuple(cas)  # published; the last one signs
        self._jwt_keys = {k.kid: k for k in jwt_keys}  # published
        self._jwt_signer = jwt_keys[-1]
        self._sequence = sequence
        self._issuer = issuer
        self._store = Store([ca.cert for ca in self._cas])

    @classmethod
    async def open(
        cls, engine: AsyncEngine, trust_domain: str, now: datetime, *, issuer: str | None = None
    ) -> SvidAuthority:
        """Load the trust domain's CA and JWT-SVID key from ``signing_keys``; create them on
        first start (CA: EC P-256, self-signed, 10 years; JWT-SVID key: ES256).

        ``issuer``, when given, is put in JWT-SVIDs as ``iss``.
        """
        _check_trust_domain(trust_domain)
        now = _aware(now)
        ca_rows = await _load_or_create(engine, X509_CA_USE, trust_domain, now)
        jwt_rows = await _load_or_create(engine, JWT_SVID_USE, trust_domain, now)
        cas = [_ca(row) for row in _published(ca_rows, now)]
        jwt_keys = [_JwtKey(r.kid, r.alg, ECKey.import_key(r.private_key)) for r in jwt_rows]
        jwt_keys = [k for k, r in zip(jwt_keys, jwt_rows, strict=True) if _is_published(r, now)]
        sequence = _sequence([*ca_rows, *jwt_rows], now)
        return cls(trust_domain, cas, jwt_keys, sequence=sequence, issuer=issuer)

    # -- X509-SVID ------------------------------------------------------------------------------

    def mint_x509_svid(
        self, spiffe_id: str, now: datetime, *, ttl: int = 3600, public_key: PublicKey | None = None
    ) -> X509Svid:
        """Issue an X509-SVID for ``spiffe_id`` (X509-SVID §2 to §4).

        The leaf has an empty subject and exactly one URI SAN (critical, §3.1), ``cA=false``
        (critical, §4.1), KeyUsage ``digitalSignature`` only (critical, §4.3), EKU serverAuth
        and clientAuth (§4.4), and SKI/AKI. Without ``public_key`` a P-256 key is generated and
        returned once in ``key_pem``; Warden keeps no copy.
        """
        self._check_own_id(spiffe_id)
        _check_ttl(ttl, MAX_X509_TTL)
        now = _aware(now)
        ca = self._cas[-1]
        private_key = None
        if public_key is None:
            private_key = ec.generate_private_key(ec.SECP256R1())
            public_key = private_key.public_key()
        _check_leaf_key(public_key)
        expires_at = min(now + timedelta(seconds=ttl), ca.cert.not_valid_after_utc)
        if expires_at <= now:
            raise SvidError("the trust domain's ca has expired", code="svid_error")
        leaf = _leaf_certificate(ca, spiffe_id, public_key, now - _BACKDATE, expires_at)
        return X509Svid(
            cert_pem=_pem(leaf),
            key_pem=_private_pem(private_key) if private_key is not None else None,
            chain_pem=_pem(ca.cert),
            spiffe_id=spiffe_id,
            expires_at=expires_at,
        )

    def verify_x509_svid(self, leaf_pem: str, now: datetime) -> str:
        """The SPIFFE ID of a peer's X509-SVID (leaf first, then any intermediates).

        RFC 5280 path validation to this trust domain's CAs (X509-SVID §5.1, with
        ``cryptography``'s verifier), then the leaf rules of §5.2 and §2: ``cA=false``, no
        ``keyCertSign``/``cRLSign``, ``digitalSignature`` set, exactly one URI SAN holding a
        SPIFFE ID of this trust domain with a non-root path.
        """
        chain = _load_chain(leaf_pem)
        spiffe_id = _leaf_spiffe_id(chain[0])
        self._check_own_id(spiffe_id, code="invalid_x509_svid")
        verifier = PolicyBuilder().store(self._store).time(_aware(now)).build_client_verifier()
        try:
            verifier.verify(chain[0], chain[1:])
        except VerificationError as exc:
            raise SvidError(
                f"the certificate does not chain to the `{self.trust_domain}` ca: {exc}",
                code="invalid_x509_svid",
            ) from None
        return spiffe_id

    # -- JWT-SVID -------------------------------------------------------------------------------

    def mint_jwt_svid(
        self, spiffe_id: str, audience: Sequence[str], now: datetime, *, ttl: int = 300
    ) -> str:
        """Issue a JWT-SVID: compact JWS, header ``alg``/``kid``/``typ: JWT`` (JWT-SVID §2),
        claims ``sub``, ``aud``, ``exp`` (§3) plus ``iat``, ``jti`` and, if known, ``iss``."""
        self._check_own_id(spiffe_id)
        _check_ttl(ttl, MAX_JWT_TTL)
        audiences = _audiences(audience)
        issued_at = int(_aware(now).timestamp())
        claims: dict[str, Any] = {
            "sub": spiffe_id,
            "aud": audiences,
            "exp": issued_at + ttl,
            "iat": issued_at,
            "jti": uuid.uuid4().hex,
        }
        if self._issuer:
            claims["iss"] = self._issuer
        signer = self._jwt_signer
        header = {"alg": signer.alg, "kid": signer.kid, "typ": "JWT"}
        return jws.serialize_compact(header, orjson.dumps(claims), signer.key, [signer.alg])

    def verify_jwt_svid(self, token: str, audience: str, now: int) -> dict[str, Any]:
        """The claims of a JWT-SVID of this trust domain that names ``audience``.

        For client authentication with a JWT-SVID as an RFC 7523 assertion. Checks, in order:
        compact JWS (JWT-SVID §5.1); header names only ``alg``/``kid``/``typ`` (§2); ``alg`` on
        the §2.1 list and equal to the key's own; ``kid`` published in this bundle; ``typ``
        absent, ``JWT`` or ``JOSE`` (§2.3); the signature (§4); ``sub`` a SPIFFE ID of this
        trust domain (§3.1); ``aud`` contains ``audience`` (§3.2); ``exp`` present and not
        passed (§3.3), ``nbf``/``iat`` not in the future; each with :data:`LEEWAY` seconds.
        """
        header = _jwt_header(token)
        key = self._jwt_key_for(header)
        try:
            signed = jws.deserialize_compact(token, key.key, [key.alg])
        except JoseError:
            raise _bad_jwt("the jwt-svid signature is not valid") from None
        claims = _json_object(signed.payload, "claims")
        self._check_own_id(_text_claim(claims, "sub"), code="invalid_jwt_svid")
        _check_audience(claims, audience)
        _check_times(claims, now)
        return claims

    def _jwt_key_for(self, header: dict[str, Any]) -> _JwtKey:
        alg = header.get("alg")
        if alg not in JWT_SVID_ALGORITHMS:
            raise _bad_jwt(f"alg `{str(alg)[:20]}` is not allowed for a jwt-svid")
        extra = sorted(set(header) - JWT_SVID_HEADERS)
        if extra:
            raise _bad_jwt(f"header `{str(extra[0])[:40]}` is not allowed in a jwt-svid")
        if "typ" in header and header["typ"] not in JWT_SVID_TYPES:
            raise _bad_jwt("typ must be `JWT` or `JOSE` when present")
        kid = header.get("kid")
        key = self._jwt_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise _bad_jwt(f"the jwt-svid was not signed by a key of `{self.trust_domain}`")
        if alg != key.alg:
            raise _bad_jwt(f"alg `{alg}` does not match the key's algorithm")
        return key

    # -- bundle ---------------------------------------------------------------------------------

    def bundle(self) -> dict[str, Any]:
        """The SPIFFE bundle (Trust Domain and Bundle §4): one ``x509-svid`` entry per CA
        (``x5c`` = the DER CA certificate, no ``kid``; X509-SVID §6.1) and one ``jwt-svid``
        entry per published JWT-SVID key (with ``kid``; JWT-SVID §6.1)."""
        keys = [_x509_entry(ca.cert) for ca in self._cas]
        keys += [self._jwt_entry(k) for k in self._jwt_keys.values()]
        return {
            "keys": keys,
            "spiffe_sequence": self._sequence,
            "spiffe_refresh_hint": REFRESH_HINT,
        }

    def jwt_bundle(self) -> dict[str, Any]:
        """Only the ``jwt-svid`` keys, as a JWKS (what JWT-only consumers such as py-spiffe's
        ``JwtBundle.parse`` accept)."""
        return {"keys": [self._jwt_entry(k) for k in self._jwt_keys.values()]}

    def bundle_pem(self) -> str:
        """The X509-SVID trust anchors (the CA certificates) as PEM."""
        return "".join(_pem(ca.cert) for ca in self._cas)

    def _jwt_entry(self, key: _JwtKey) -> dict[str, Any]:
        public = key.key.as_dict(private=False)
        return {**public, "use": "jwt-svid", "kid": key.kid}

    def _check_own_id(self, spiffe_id: str, *, code: str = "invalid_spiffe_id") -> None:
        problem = spiffe_id_problem(spiffe_id)
        if problem is not None:
            raise SvidError(problem, code=code)
        domain = spiffe_id[len("spiffe://") :].split("/", 1)[0]
        if domain != self.trust_domain:
            raise SvidError(
                f"`{domain}` is not warden's trust domain `{self.trust_domain}`", code=code
            )


# -- keys and certificates ----------------------------------------------------------------------


async def _load_or_create(
    engine: AsyncEngine, use: str, trust_domain: str, now: datetime
) -> list[StoredKey]:
    rows = await load_keys(engine, use, trust_domain)
    if not any(r.retired_at is None and _is_published(r, now) for r in rows):
        generation = max((r.generation for r in rows), default=0) + 1
        kid = key_id(use, trust_domain, generation)
        new = _new_ca(kid, trust_domain, now) if use == X509_CA_USE else _new_jwt_key(kid, now)
        await insert_key(engine, new)  # False: another replica created it first; reload
        rows = await load_keys(engine, use, trust_domain)
    # the newest active key signs: keep it last
    active = [r for r in rows if r.retired_at is None and _is_published(r, now)]
    return [*(r for r in rows if r not in active), *active]


def _new_ca(kid: str, trust_domain: str, now: datetime) -> StoredKey:
    """A self-signed signing certificate (X509-SVID §3.2): ``cA=true`` and KeyUsage
    ``keyCertSign``/``cRLSign`` (§4.1, §4.3), both critical; URI SAN ``spiffe://<td>``, no path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Warden"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"SPIFFE CA {trust_domain}"[:64]),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return StoredKey(kid, X509_CA_USE, _SIGNING_ALG, _private_pem(key), _pem(cert), now)


def _new_jwt_key(kid: str, now: datetime) -> StoredKey:
    key = ec.generate_private_key(ec.SECP256R1())
    return StoredKey(kid, JWT_SVID_USE, _SIGNING_ALG, _private_pem(key), None, now)


def _leaf_certificate(
    ca: _Ca, spiffe_id: str, public_key: PublicKey, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))  # empty: the SPIFFE ID is the identity (§3.1)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
            critical=True,  # RFC 5280 §4.1.2.6: the subject is empty
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca(row: StoredKey) -> _Ca:
    key = serialization.load_pem_private_key(row.private_key.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or row.certificate is None:
        raise SvidError(f"stored ca key `{row.kid}` is not usable", code="svid_error")
    return _Ca(row.kid, key, x509.load_pem_x509_certificate(row.certificate.encode()))


def _is_published(row: StoredKey, now: datetime) -> bool:
    if row.publish_until is not None and row.publish_until <= now:
        return False
    if row.certificate is not None:
        cert = x509.load_pem_x509_certificate(row.certificate.encode())
        return cert.not_valid_after_utc > now
    return True


def _published(rows: Sequence[StoredKey], now: datetime) -> list[StoredKey]:
    return [r for r in rows if _is_published(r, now)]


def _sequence(rows: Sequence[StoredKey], now: datetime) -> int:
    """Bundle §4.1.1: grows whenever the bundle changes (a key added or dropped)."""
    moments = [r.created_at for r in rows]
    moments += [r.publish_until for r in rows if r.publish_until and r.publish_until <= now]
    return int(max(moments).timestamp())


def _check_leaf_key(public_key: PublicKey) -> None:
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(
        public_key.curve, _EC_CURVES
    ):
        return
    raise SvidError("the public key must be rsa (2048 bits or more) or ec p-256/p-384/p-521")


def _load_chain(pem: str) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise SvidError("not a pem certificate", code="invalid_x509_svid") from None
    return chain


def _leaf_spiffe_id(leaf: x509.Certificate) -> str:
    """The leaf rules of X509-SVID §5.2 and §2; the SPIFFE ID (checked by the caller)."""
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise _bad_leaf(f"an x509-svid needs the `{exc.oid.dotted_string}` extension") from None
    except ValueError:
        raise _bad_leaf("the certificate's extensions cannot be parsed") from None
    if constraints.ca:
        raise _bad_leaf("a ca certificate cannot be an x509-svid leaf (ca=true)")
    if not usage.critical or not usage.value.digital_signature:
        raise _bad_leaf("an x509-svid leaf needs a critical key usage with digitalSignature")
    if usage.value.key_cert_sign or usage.value.crl_sign:
        raise _bad_leaf("an x509-svid leaf must not allow keyCertSign or cRLSign")
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise _bad_leaf(f"an x509-svid has exactly one uri san, this one has {len(uris)}")
    return uris[0]


def _x509_entry(cert: x509.Certificate) -> dict[str, Any]:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SvidError("warden's ca key is not an ec key", code="svid_error")
    public = ECKey.import_key(key).as_dict(private=False)
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return {**public, "use": "x509-svid", "x5c": [der]}


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _private_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# -- JWT-SVID claims ------------------------------------------------------------------------------


def _jwt_header(token: Any) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise _bad_jwt("a jwt-svid is a non-empty string")
    if len(token) > MAX_JWT_LENGTH:
        raise _bad_jwt(f"a jwt-svid is at most {MAX_JWT_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise _bad_jwt("a jwt-svid is a compact jws (three dot-separated parts)")
    return _json_object(_b64url(parts[0]), "header")


def _b64url(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        raise _bad_jwt("the jwt-svid is not base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad_jwt(f"the jwt-svid {what} is not json") from None
    if not isinstance(value, dict):
        raise _bad_jwt(f"the jwt-svid {what} is not a json object")
    return value


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise _bad_jwt(f"the jwt-svid has no `{name}` claim")
    return value


def _check_audience(claims: dict[str, Any], audience: str) -> None:
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values:
        raise _bad_jwt("the jwt-svid has no `aud` claim")
    if audience not in values:
        raise _bad_jwt(f"the jwt-svid is not for audience `{audience}`")


def _check_times(claims: dict[str, Any], now: int) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _bad_jwt("the jwt-svid has no `exp` claim")
    if now >= exp + LEEWAY:
        raise _bad_jwt("the jwt-svid has expired")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _bad_jwt(f"the jwt-svid `{name}` claim is not a number")
        if value > now + LEEWAY:
            raise _bad_jwt(f"the jwt-svid is not valid yet (`{name}` is in the future)")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _audiences(audience: Sequence[str]) -> list[str]:
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(a, str) and a for a in values):
        raise SvidError("a jwt-svid needs at least one non-empty audience", code="invalid_request")
    return values


# -- small checks ---------------------------------------------------------------------------------


def _check_trust_domain(trust_domain: str) -> None:
    """SPIFFE-ID §2.1: lowercase letters, digits, ``.``, ``-`` and ``_``; no port or userinfo."""
    too_long = len(f"spiffe://{trust_domain}/x") > MAX_LENGTH  # SPIFFE-ID §2.3
    if not _TRUST_DOMAIN.fullmatch(trust_domain) or too_long:
        raise SvidError(f"`{trust_domain}` is not a valid spiffe trust domain", code="svid_error")


def _check_ttl(ttl: int, maximum: int) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= maximum:
        raise SvidError(f"ttl must be between 1 and {maximum} seconds", code="invalid_request")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _bad_jwt(message: str) -> SvidError:
    return SvidError(message, code="invalid_jwt_svid")


def _bad_leaf(message: str) -> SvidError:
    return SvidError(message, code="invalid_x509_svid")
