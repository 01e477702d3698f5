"""Minting, recording and verifying the tokens Warden issues (the ``TokenMinter`` contract).

Access and transaction tokens are JWTs (RFC 9068, see ``rfc9068.py``) recorded by ``jti`` in
``oauth_tokens`` so introspection (RFC 7662) and revocation (RFC 7009) work on them; refresh
tokens are opaque random strings of which only the hex SHA-256 is stored (OAuth 2.1 §4.3).
A :class:`Minter` is bound to one request's clock: :meth:`TokenIssuer.at` makes one.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from warden.tokens import rfc9068
from warden.tokens.errors import InvalidToken
from warden.tokens.keys import KeyRing
from warden.tokens.models import Client
from warden.tokens.settings import TokenSettings
from warden.tokens.store import TokenRecord, TokenStore

JWT_TYPS = ("at+jwt", "txntoken+jwt")


def token_hash(token: str) -> str:
    """The stored form of an opaque token: hex SHA-256 of its text."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenIssuer:
    """The long-lived parts: settings, keys and the token records."""

    def __init__(self, settings: TokenSettings, keys: KeyRing, store: TokenStore) -> None:
        self.settings = settings
        self.keys = keys
        self.store = store

    def at(self, now: datetime) -> Minter:
        return Minter(self, now)


class Minter:
    """:class:`~warden.tokens.service.TokenMinter` at one instant ``now``."""

    def __init__(self, issuer: TokenIssuer, now: datetime) -> None:
        self._issuer = issuer
        self._settings = issuer.settings
        self._store = issuer.store
        self.now = now

    async def mint(
        self,
        claims: Mapping[str, Any],
        *,
        kind: str,
        client: Client,
        grant_id: str,
        ttl: int,
        jkt: str | None = None,
        typ: str = "at+jwt",
    ) -> tuple[str, Mapping[str, Any]]:
        final = self._registered_claims(claims, client, ttl, jkt)
        token = rfc9068.sign(typ, final, self._issuer.keys)
        await self._store.insert_token(self._record(final, kind, client, grant_id, jkt))
        return token, final

    def _registered_claims(
        self, claims: Mapping[str, Any], client: Client, ttl: int, jkt: str | None
    ) -> dict[str, Any]:
        iat = int(self.now.timestamp())
        final = {"client_id": client.client_id, **claims}
        final.update(iss=self._settings.issuer, iat=iat, exp=iat + ttl, jti=uuid.uuid4().hex)
        if jkt is not None:
            final["cnf"] = {"jkt": jkt}  # RFC 9449 §6.1
        return final

    def _record(
        self, claims: Mapping[str, Any], kind: str, client: Client, grant_id: str, jkt: str | None
    ) -> TokenRecord:
        return TokenRecord(
            jti=claims["jti"],
            grant_id=grant_id,
            kind=kind,
            client_id=client.client_id,
            subject=str(claims.get("sub", client.client_id)),
            scope=_split(claims.get("scope")),
            audience=rfc9068.audiences(claims),
            claims=dict(claims),
            issued_at=self.now,
            expires_at=datetime.fromtimestamp(claims["exp"], self.now.tzinfo),
            jkt=jkt,
        )

    async def mint_refresh(
        self,
        *,
        client: Client,
        grant_id: str,
        subject: str,
        scope: tuple[str, ...],
        claims: Mapping[str, Any],
        jkt: str | None,
    ) -> str:
        token = secrets.token_urlsafe(32)
        record = TokenRecord(
            jti=uuid.uuid4().hex,
            grant_id=grant_id,
            kind="refresh",
            client_id=client.client_id,
            subject=subject,
            scope=scope,
            audience=rfc9068.audiences(claims),
            claims=dict(claims),
            issued_at=self.now,
            expires_at=self.now + timedelta(seconds=self._settings.refresh_token_ttl),
            jkt=jkt,
            token_hash=token_hash(token),
        )
        await self._store.insert_token(record)
        return token

    async def verify(self, token: str, *, typ: str = "at+jwt") -> Mapping[str, Any]:
        return (await self.verify_in_grant(token, typ=typ))[0]

    async def verify_in_grant(
        self, token: str, *, typ: str = "at+jwt"
    ) -> tuple[Mapping[str, Any], str]:
        """:meth:`verify`, and the grant the token was issued under."""
        claims = rfc9068.verify_signature(token, self._issuer.keys, typs=(typ,), now=self.now)
        rfc9068.check_claims(
            claims, issuer=self._settings.issuer, now=self.now, leeway=self._settings.leeway
        )
        status, grant_id = await self._store.state(str(claims.get("jti", "")))
        if status != "active" or grant_id is None:
            raise InvalidToken("the token was revoked")
        return claims, grant_id

    async def revoke_grant(self, grant_id: str) -> None:
        await self._store.revoke_grant(grant_id, self.now)

    async def find(self, token: str, hint: str | None = None) -> TokenRecord | None:
        """The record of any token Warden issued, whatever its state; None when Warden did not
        issue it. ``hint`` (RFC 7009 §2.1) only orders the search."""
        lookups = [self._find_jwt, self._find_refresh]
        if hint == "refresh_token":
            lookups.reverse()
        for lookup in lookups:
            record = await lookup(token)
            if record is not None:
                return record
        return None

    async def _find_jwt(self, token: str) -> TokenRecord | None:
        if token.count(".") != 2:
            return None
        try:
            claims = rfc9068.verify_signature(token, self._issuer.keys, typs=JWT_TYPS, now=self.now)
        except InvalidToken:
            return None
        return await self._store.get_token(str(claims.get("jti", "")))

    async def _find_refresh(self, token: str) -> TokenRecord | None:
        record = await self._store.find_by_hash(token_hash(token))
        return record if record is not None and record.kind == "refresh" else None


def _split(scope: Any) -> tuple[str, ...]:
    return tuple(s for s in scope.split(" ") if s) if isinstance(scope, str) else ()
