"""Issuing, revoking and checking the bearer tokens people use against Warden's API.

A token is ``wdn_<id>_<secret>``; the store keeps only the SHA-256 of the whole token, found
by its hash and compared in constant time. Tokens are checked against an in-memory copy of
the table (refreshed on every change through this service), so authenticating costs no I/O.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.access.errors import AccessTokenNotFound
from warden.access.models import AccessToken, Principal, Role
from warden.store.schema import access_tokens

PREFIX = "wdn_"


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class AccessService:
    def __init__(self, engine: AsyncEngine, audit: AuditSink) -> None:
        self._engine = engine
        self._audit = audit
        self._by_hash: dict[str, AccessToken] = {}

    async def load(self) -> None:
        tokens = await self.tokens()
        self._by_hash = {}
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(access_tokens.c.id, access_tokens.c.token_hash))
            hashes = {r.id: r.token_hash for r in rows}
        for token in tokens:
            self._by_hash[hashes[token.id]] = token

    async def issue(
        self,
        person: str,
        roles: Iterable[Role],
        *,
        actor: str,
        now: datetime,
        description: str = "",
        expires_at: datetime | None = None,
    ) -> tuple[AccessToken, str]:
        """A new token for ``person``; returns the record and the secret, shown only once."""
        token_id = secrets.token_hex(8)
        secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        record = AccessToken(
            id=token_id,
            person=person.lower(),
            roles=frozenset(roles),
            description=description,
            created_by=actor,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
        row = {
            "id": token_id,
            "token_hash": _digest(secret),
            "person": record.person,
            "roles": orjson.dumps(sorted(r.value for r in record.roles)).decode(),
            "description": description,
            "created_by": actor,
            "created_at": now.isoformat(),
            "expires_at": expires_at.isoformat() if expires_at else None,
            "revoked_at": None,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(access_tokens).values(**row))
        await self._audit.record("access:token:issued", {"actor": actor, "token": record.to_dict()})
        await self.load()
        return record, secret

    async def revoke(self, token_id: str, *, actor: str, now: datetime) -> AccessToken:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(access_tokens)
                .where(access_tokens.c.id == token_id, access_tokens.c.revoked_at.is_(None))
                .values(revoked_at=now.isoformat())
            )
        if result.rowcount == 0:
            raise AccessTokenNotFound(f"no active access token `{token_id}`")
        await self._audit.record("access:token:revoked", {"actor": actor, "token_id": token_id})
        await self.load()
        return next(t for t in await self.tokens() if t.id == token_id)

    async def tokens(self) -> list[AccessToken]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(access_tokens).order_by(access_tokens.c.created_at))
            return [_token(r._mapping) for r in rows]

    def authenticate(self, presented: str, now: datetime) -> Principal | None:
        """The principal of a presented token, or None (unknown, revoked or expired)."""
        if not presented.startswith(PREFIX):
            return None
        # Looked up by the SHA-256 of a 256-bit secret: how long the lookup takes says
        # nothing about the secret, so no constant-time comparison is needed here.
        token = self._by_hash.get(_digest(presented))
        if token is None or not token.active(now):
            return None
        return Principal(token.person, token.roles)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _token(row: Any) -> AccessToken:
    return AccessToken(
        id=row["id"],
        person=row["person"],
        roles=frozenset(Role(r) for r in orjson.loads(row["roles"])),
        description=row["description"],
        created_by=row["created_by"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=_when(row["expires_at"]),
        revoked_at=_when(row["revoked_at"]),
    )
