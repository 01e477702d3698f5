"""Authorization codes: issued once, redeemed once (OAuth 2.1 §4.1.2, §4.1.3; RFC 6749 §10.5).

A code is 256 random bits, handed to the client once and stored only as its SHA-256 hash in
``authorization_codes``, together with what the person consented to (the client, redirect URI,
PKCE challenge, scope, RFC 8707 resources). It lives ``settings.code_ttl`` seconds (OAuth 2.1
§4.1.2 recommends 10 minutes or less).

Redemption is one atomic ``UPDATE … SET used_at = now WHERE code_hash = … AND used_at IS NULL``:
of two concurrent redemptions exactly one wins. A second redemption is refused with
``invalid_grant`` and revokes every token the first one issued (OAuth 2.1 §4.1.3: the
authorization server SHOULD revoke them). The code is spent even when the token request fails
afterwards (a wrong PKCE verifier): a code seen with a wrong verifier has probably leaked.
A replay that races the first redemption's minting is caught by :meth:`CodeStore.confirm`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import authorization_codes
from warden.tokens.errors import InvalidGrant
from warden.tokens.service import TokenContext


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What a person consented to, which the code stands for.

    ``redirect_uri`` is the URI the code was sent to; ``redirect_uri_sent`` says whether the
    authorization request named it (then an OAuth 2.0 client repeats it at the token endpoint).
    """

    client_id: str
    subject: str  # the person who consented
    redirect_uri: str
    redirect_uri_sent: bool
    scope: tuple[str, ...]
    resources: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    dpop_jkt: str | None = None  # RFC 9449 §10: the key the token request must prove

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CodeGrant:
        data: dict[str, Any] = orjson.loads(raw)
        data["scope"] = tuple(data["scope"])
        data["resources"] = tuple(data["resources"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RedeemedCode:
    grant: CodeGrant
    grant_id: str


def code_hash(code: str) -> str:
    """The stored form of a code (or refresh token): hex SHA-256 of its text."""
    return hashlib.sha256(code.encode()).hexdigest()


class CodeStore:
    """Authorization codes in the ``authorization_codes`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def issue(self, grant: CodeGrant, *, now: datetime, ttl: int) -> str:
        """A new code for ``grant``; the only time the code itself exists outside the client."""
        code = secrets.token_urlsafe(32)
        row = {
            "code_hash": code_hash(code),
            "client_id": grant.client_id,
            "details": grant.to_json().decode(),
            "grant_id": secrets.token_hex(16),
            "expires_at": (now + timedelta(seconds=ttl)).isoformat(),
            "used_at": None,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(authorization_codes).values(**row))
        return code

    async def redeem(self, code: str, *, client_id: str, ctx: TokenContext) -> RedeemedCode:
        """Spend ``code`` for ``client_id``; ``invalid_grant`` when it is unknown, another
        client's, expired or already spent (and then the tokens it issued are revoked)."""
        digest = code_hash(code)
        table = authorization_codes
        async with self._engine.begin() as conn:
            spent = await conn.execute(
                update(table)
                .where(
                    table.c.code_hash == digest,
                    table.c.client_id == client_id,
                    table.c.used_at.is_(None),
                )
                .values(used_at=ctx.now.isoformat())
            )
            found = (
                (await conn.execute(select(table).where(table.c.code_hash == digest)))
                .mappings()
                .first()
            )
        if found is None or not hmac.compare_digest(found["code_hash"], digest):
            raise InvalidGrant("the authorization code is not valid")
        if not hmac.compare_digest(found["client_id"].encode(), client_id.encode()):
            # Not spent: the rightful client may still redeem it.
            raise InvalidGrant("the authorization code was not issued to this client")
        if spent.rowcount != 1:
            await self._seal(found["grant_id"], ctx)
            await ctx.tokens.revoke_grant(found["grant_id"])
            raise InvalidGrant("the authorization code was already used")
        if datetime.fromisoformat(found["expires_at"]) <= ctx.now:
            raise InvalidGrant("the authorization code has expired")
        return RedeemedCode(CodeGrant.from_json(found["details"]), found["grant_id"])

    async def confirm(self, redeemed: RedeemedCode, ctx: TokenContext) -> None:
        """Call once the tokens of ``redeemed`` are minted: if the code was replayed while
        they were (a race the replay's revocation could miss), revoke them now.

        Whichever of the redemption and the replay seals the grant second revokes it, so
        the tokens never outlive a replay.
        """
        if not await self._seal(redeemed.grant_id, ctx):
            await ctx.tokens.revoke_grant(redeemed.grant_id)
            raise InvalidGrant("the authorization code was already used")

    async def _seal(self, grant_id: str, ctx: TokenContext) -> bool:
        lifetime = ctx.settings.code_ttl + ctx.settings.refresh_token_ttl
        now = int(ctx.now.timestamp())
        return await ctx.replay.first_use(f"code-grant:{grant_id}", now + lifetime, now)
