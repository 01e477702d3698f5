"""Client authentication with a signed JWT: ``private_key_jwt`` (RFC 7523 §2.2 and §3,
RFC 7521 §4.2, OpenID Connect Core §9).

The assertion must be signed by a key of the client's registered ``jwks`` with an
asymmetric ``alg`` (HMAC and ``none`` are refused), and carry ``iss`` = ``sub`` = the client id
(§3 items 1-2), an ``aud`` naming the token endpoint URL or the issuer (item 3), an ``exp``
not passed and not too far ahead (item 4), ``nbf``/``iat`` not in the future (items 5-6), and a
``jti`` that is used once (item 7: kept in the shared replay cache until ``exp``).

A client whose id is a SPIFFE ID of Warden's own trust domain may instead present a JWT-SVID
minted by Warden (SPIFFE JWT-SVID §4; verified by :class:`warden.tokens.svid.SvidAuthority`)
whose ``aud`` names the token endpoint or the issuer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from warden.errors import WardenError
from warden.tokens.errors import InvalidClient, InvalidToken
from warden.tokens.models import Client
from warden.tokens.replay import ReplayCache
from warden.tokens.rfc9068 import audiences, read_header

ASSERTION_ALGS = frozenset(
    {*(f"{f}{b}" for f in ("RS", "ES", "PS") for b in (256, 384, 512)), "EdDSA"}
)


class SvidVerifier(Protocol):
    """The SPIFFE issuer's JWT-SVID check (``SvidAuthority.verify_jwt_svid``)."""

    trust_domain: str

    def verify_jwt_svid(self, token: str, audience: str, now: int) -> dict[str, Any]: ...


def unverified_claims(assertion: str) -> dict[str, Any]:
    """The claims of a compact JWS before its signature is checked (to find the client)."""
    _header(assertion)
    try:
        payload = json.loads(jws.extract_compact(assertion.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise InvalidClient("the client assertion is not a jwt") from exc
    if not isinstance(payload, dict):
        raise InvalidClient("the client assertion claims are not a json object")
    return payload


def _header(assertion: str) -> dict[str, Any]:
    try:
        return read_header(assertion)
    except InvalidToken as exc:
        raise InvalidClient("the client assertion is not a jwt") from exc


class AssertionVerifier:
    """Checks ``private_key_jwt`` assertions (and JWT-SVIDs) for one authorization server."""

    def __init__(
        self,
        *,
        audiences: Collection[str],
        replay: ReplayCache,
        leeway: int,
        max_lifetime: int,
        svids: SvidVerifier | None = None,
    ) -> None:
        self._audiences = tuple(audiences)
        self._replay = replay
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._svids = svids

    def is_svid_client(self, client_id: str) -> bool:
        """Whether ``client_id`` is a SPIFFE ID of the trust domain Warden issues for."""
        return self._svids is not None and client_id.startswith(
            f"spiffe://{self._svids.trust_domain}/"
        )

    async def verify(self, assertion: str, client: Client, now: datetime) -> Mapping[str, Any]:
        """The verified claims, or ``InvalidClient``."""
        if self._is_svid(assertion, client):
            claims = self._verify_svid(assertion, client, now)
        else:
            claims = self._verify_signed(assertion, client)
            self._check_claims(claims, client, now)
        await self._spend_jti(claims, client, now)
        return claims

    def _is_svid(self, assertion: str, client: Client) -> bool:
        """A JWT-SVID names the agent in ``sub`` only; an RFC 7523 assertion also in ``iss``."""
        if not self.is_svid_client(client.client_id):
            return False
        return unverified_claims(assertion).get("iss") != client.client_id or not client.jwks

    def _verify_signed(self, assertion: str, client: Client) -> dict[str, Any]:
        alg = _header(assertion).get("alg")
        if alg not in ASSERTION_ALGS:
            raise InvalidClient(f"alg `{str(alg)[:20]}` is not accepted for a client assertion")
        if not client.jwks:
            raise InvalidClient(f"client `{client.client_id}` has no registered `jwks`")
        try:
            keys = KeySet.import_key_set(dict(client.jwks))  # type: ignore[arg-type]
            signed = jws.deserialize_compact(assertion, keys, algorithms=[str(alg)])
            claims = json.loads(signed.payload)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClient("the client assertion signature is not valid") from exc
        if not isinstance(claims, dict):
            raise InvalidClient("the client assertion claims are not a json object")
        return claims

    def _check_claims(self, claims: Mapping[str, Any], client: Client, now: datetime) -> None:
        for name in ("iss", "sub"):
            if not hmac.compare_digest(str(claims.get(name, "")), client.client_id):
                raise InvalidClient(f"the client assertion `{name}` must be the client id")
        if not set(audiences(claims)) & set(self._audiences):
            raise InvalidClient("the client assertion `aud` must name the token endpoint")
        self._check_times(claims, now.timestamp())
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidClient("the client assertion needs a `jti`")

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClient("the client assertion needs an `exp`")
        if now > exp + self._leeway:
            raise InvalidClient("the client assertion has expired")
        if exp - now > self._max_lifetime:
            raise InvalidClient("the client assertion `exp` is too far in the future")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if isinstance(value, int | float) and value > now + self._leeway:
                raise InvalidClient(f"the client assertion `{name}` is in the future")

    def _verify_svid(self, token: str, client: Client, now: datetime) -> dict[str, Any]:
        assert self._svids is not None
        for audience in self._audiences:
            try:
                claims = self._svids.verify_jwt_svid(token, audience, int(now.timestamp()))
            except WardenError:
                continue
            if hmac.compare_digest(str(claims.get("sub", "")), client.client_id):
                return claims
            raise InvalidClient("the jwt-svid `sub` must be the client id")
        raise InvalidClient("the jwt-svid is not valid for this token endpoint")

    async def _spend_jti(self, claims: Mapping[str, Any], client: Client, now: datetime) -> None:
        jti, exp = claims.get("jti"), claims.get("exp")
        if not isinstance(jti, str) or not isinstance(exp, int | float):
            return  # a JWT-SVID need not carry a jti (JWT-SVID §3)
        key = hashlib.sha256(f"{client.client_id}\x00{jti}".encode()).hexdigest()
        expires = int(exp) + self._leeway
        if not await self._replay.first_use(
            f"client-assertion:{key}", expires, int(now.timestamp())
        ):
            raise InvalidClient("the client assertion was already used")
