"""JWT access tokens (RFC 9068), signed with Warden's key ring.

Issuing (§2): header ``typ: at+jwt`` (§2.1) and ``kid``; claims ``iss``, ``exp``, ``aud``,
``sub``, ``client_id``, ``iat``, ``jti`` (§2.2), ``scope`` (§2.2.3), and as needed ``cnf.jkt``
(RFC 9449 §6.1), ``act`` (RFC 8693 §4.1), ``authorization_details`` (RFC 9396 §9.1). The
audience comes from the RFC 8707 ``resource`` parameter.

Validating (§4): the ``typ`` must be the expected one (§4 step 1, against token confusion),
``alg`` must be on the allow-list (``none`` and HMAC are never accepted: RFC 8725 §3.1), the
signature must verify with a key Warden still publishes, ``iss`` must equal the issuer
exactly, ``exp``/``nbf`` hold against the caller's clock with a small leeway, and ``aud``
must contain the resource when the caller names one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from warden.tokens.errors import InvalidToken
from warden.tokens.keys import SIGNING_ALG, KeyRing

ACCESS_TOKEN_TYP = "at+jwt"
ALLOWED_ALGS = frozenset({SIGNING_ALG})
MAX_TOKEN_BYTES = 16 * 1024


def sign(header_typ: str, claims: Mapping[str, Any], keys: KeyRing) -> str:
    """``claims`` as a compact JWS signed by the ring's current key."""
    key = keys.current()
    header = {"alg": key.alg, "typ": header_typ, "kid": key.kid}
    payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True)
    return jws.serialize_compact(header, payload, key.key, algorithms=[key.alg])


def read_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, unverified; ``InvalidToken`` if malformed.

    Only the header segment is decoded (strict base64url): the payload is decoded once, by
    the signature check, however large it is (a chain assertion carries every hop)."""
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("the token is not a compact jwt")
    segment = token[: token.index(".")]
    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        header = json.loads(raw)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidToken("the token is not a compact jwt") from exc
    if not isinstance(header, dict):
        raise InvalidToken("the token is not a compact jwt")
    return header


def verify_signature(
    token: str, keys: KeyRing, *, typs: Collection[str], now: datetime
) -> dict[str, Any]:
    """The claims of ``token`` once its ``alg``, ``typ`` and signature check out."""
    header = read_header(token)
    if header.get("alg") not in ALLOWED_ALGS:
        raise InvalidToken(f"alg `{header.get('alg')}` is not accepted")
    if str(header.get("typ", "")).lower() not in {t.lower() for t in typs}:
        raise InvalidToken(f"typ `{header.get('typ')}` is not accepted here")
    key = keys.find(str(header.get("kid", "")), now)
    if key is None:
        raise InvalidToken("the token was not signed by a key warden publishes")
    try:
        verified = jws.deserialize_compact(token, key.key, algorithms=list(ALLOWED_ALGS))
        claims = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidToken("the token signature is not valid") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("the token claims are not a json object")
    return claims


def check_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    now: datetime,
    leeway: int,
    audience: str | None = None,
) -> None:
    """RFC 9068 §4 steps 3-8 (issuer, audience, time window); raises ``InvalidToken``."""
    if not hmac.compare_digest(str(claims.get("iss", "")).encode(), issuer.encode()):
        raise InvalidToken("the token was issued by another issuer")
    _check_times(claims, now.timestamp(), leeway)
    if audience is not None and audience not in audiences(claims):
        raise InvalidToken(f"the token is not meant for `{audience}`")


def _check_times(claims: Mapping[str, Any], now: float, leeway: int) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidToken("the token has no `exp`")
    if now > exp + leeway:
        raise InvalidToken("the token has expired")
    if isinstance(nbf, int | float) and now < nbf - leeway:
        raise InvalidToken("the token is not valid yet")


def audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """``aud`` as a tuple (RFC 7519 §4.1.3 allows one string or an array)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()
