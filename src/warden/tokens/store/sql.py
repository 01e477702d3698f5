"""The authorization server's records in SQL (SQLite or PostgreSQL), migration 0002's tables.

Timestamps are stored as ISO 8601 UTC text; JSON columns hold canonical-enough JSON (orjson).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import oauth_clients, oauth_tokens, signing_keys
from warden.tokens.models import Client, ClientAuthMethod
from warden.tokens.store import ClientExists, StoredKey, TokenRecord

_CLIENT_FIELDS = ("redirect_uris", "grant_types", "scope", "dpop_bound")


class SqlClientStore:
    """Clients in ``oauth_clients``.

    A registered client never changes (there is no update or delete yet), so found clients are
    kept in memory: client authentication runs on every token request. Misses are not cached —
    another replica may register the client a moment later. Whoever adds client updates must
    invalidate this cache (and fan the change out to other replicas).
    """

    _CACHE_SIZE = 10_000

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._found: dict[str, Client] = {}

    async def insert_client(self, client: Client) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(oauth_clients).values(**_client_row(client)))
        except IntegrityError as exc:
            raise ClientExists(f"client `{client.client_id}` is already registered") from exc

    async def get_client(self, client_id: str) -> Client | None:
        found = self._found.get(client_id)
        if found is not None:
            return found
        query = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        if len(self._found) >= self._CACHE_SIZE:
            self._found.pop(next(iter(self._found)))
        self._found[client_id] = client = _client(row)
        return client

    async def list_clients(self) -> list[Client]:
        query = select(oauth_clients).order_by(oauth_clients.c.client_id)
        async with self._engine.connect() as conn:
            return [_client(r) for r in (await conn.execute(query)).mappings()]


class SqlKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert_key(self, key: StoredKey) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(signing_keys).values(**_key_row(key)))

    async def list_keys(self, use: str) -> list[StoredKey]:
        query = (
            select(signing_keys)
            .where(signing_keys.c.use == use)
            .order_by(signing_keys.c.created_at, signing_keys.c.kid)
        )
        async with self._engine.connect() as conn:
            return [_key(r) for r in (await conn.execute(query)).mappings()]

    async def retire_key(self, kid: str, retired_at: datetime, publish_until: datetime) -> None:
        statement = (
            update(signing_keys)
            .where(signing_keys.c.kid == kid, signing_keys.c.retired_at.is_(None))
            .values(retired_at=_ts(retired_at), publish_until=_ts(publish_until))
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)


class SqlTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._inserts = _GroupCommit(engine)
        # Bumped by every revocation this process makes: what a verified token was checked
        # under (see ``AuthorizationServer.verify_access_token``).
        self.revocations = 0

    async def insert_token(self, record: TokenRecord) -> None:
        """Record an issued token; returns once it is committed (it is then introspectable
        and revocable). Concurrent inserts share one transaction and one fsync."""
        await self._inserts.insert(_token_row(record))

    async def get_token(self, jti: str) -> TokenRecord | None:
        return await self._one(oauth_tokens.c.jti == jti)

    async def status(self, jti: str) -> str:
        """``active``, ``revoked`` or ``unknown`` — the one column verification needs."""
        return (await self.state(jti))[0]

    async def state(self, jti: str) -> tuple[str, str | None]:
        """:meth:`status` and the token's grant id (None when unknown), in one read."""
        query = select(oauth_tokens.c.revoked_at, oauth_tokens.c.grant_id).where(
            oauth_tokens.c.jti == jti
        )
        async with self._engine.connect() as conn:
            # one statement, no BEGIN/ROLLBACK around it: a third of the round trips
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(query)).first()
        if row is None:
            return "unknown", None
        return ("active" if row.revoked_at is None else "revoked"), str(row.grant_id)

    async def find_by_hash(self, token_hash: str) -> TokenRecord | None:
        return await self._one(oauth_tokens.c.token_hash == token_hash)

    async def _one(self, condition: Any) -> TokenRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(oauth_tokens).where(condition))).mappings().first()
        return None if row is None else _token(row)

    async def revoke_token(self, jti: str, now: datetime) -> None:
        await self._revoke(oauth_tokens.c.jti == jti, now)

    async def revoke_grant(self, grant_id: str, now: datetime) -> int:
        return await self._revoke(oauth_tokens.c.grant_id == grant_id, now)

    async def revoke_party(self, subject: str, client_ids: list[str], now: datetime) -> int:
        """Every live token issued to ``subject`` or to one of ``client_ids`` (the kill
        switch: an agent's own tokens and those it got by delegation)."""
        condition = oauth_tokens.c.subject == subject
        if client_ids:
            condition = or_(condition, oauth_tokens.c.client_id.in_(client_ids))
        return await self._revoke(condition, now)

    async def _revoke(self, condition: Any, now: datetime) -> int:
        statement = (
            update(oauth_tokens)
            .where(condition, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_ts(now))
        )
        self.revocations += 1  # before and after: a check racing this one is not kept
        try:
            async with self._engine.begin() as conn:
                return (await conn.execute(statement)).rowcount
        finally:
            self.revocations += 1

    async def mark_replaced(self, jti: str, replaced_by: str, now: datetime) -> bool:
        statement = (
            update(oauth_tokens)
            .where(
                oauth_tokens.c.jti == jti,
                oauth_tokens.c.replaced_by.is_(None),
                oauth_tokens.c.revoked_at.is_(None),
            )
            .values(replaced_by=replaced_by, revoked_at=_ts(now))
        )
        async with self._engine.begin() as conn:
            return bool((await conn.execute(statement)).rowcount)


# -- rows ----------------------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    return value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _client_row(client: Client) -> dict[str, Any]:
    metadata = {
        **dict(client.metadata),
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": list(client.scope),
        "dpop_bound": client.dpop_bound,
    }
    return {
        "client_id": client.client_id,
        "client_name": client.client_name,
        "auth_method": client.auth_method.value,
        "secret_hash": client.secret_hash,
        "jwks": None if client.jwks is None else _json(dict(client.jwks)),
        "metadata": _json(metadata),
        "agent_id": client.agent_id,
        "created_at": _ts(client.created_at),
    }


def _client(row: Any) -> Client:
    metadata = orjson.loads(row["metadata"])
    return Client(
        client_id=row["client_id"],
        client_name=row["client_name"],
        auth_method=ClientAuthMethod(row["auth_method"]),
        secret_hash=row["secret_hash"],
        jwks=None if row["jwks"] is None else orjson.loads(row["jwks"]),
        redirect_uris=tuple(metadata.get("redirect_uris", ())),
        grant_types=tuple(metadata.get("grant_types", ())),
        scope=tuple(metadata.get("scope", ())),
        dpop_bound=bool(metadata.get("dpop_bound", False)),
        agent_id=row["agent_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        metadata={k: v for k, v in metadata.items() if k not in _CLIENT_FIELDS},
    )


def _key_row(key: StoredKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "use": key.use,
        "alg": key.alg,
        "private_key": key.private_pem,
        "created_at": _ts(key.created_at),
        "retired_at": None if key.retired_at is None else _ts(key.retired_at),
        "publish_until": None if key.publish_until is None else _ts(key.publish_until),
    }


def _key(row: Any) -> StoredKey:
    return StoredKey(
        kid=row["kid"],
        use=row["use"],
        alg=row["alg"],
        private_pem=row["private_key"],
        created_at=datetime.fromisoformat(row["created_at"]),
        retired_at=_dt(row["retired_at"]),
        publish_until=_dt(row["publish_until"]),
    )


def _token_row(record: TokenRecord) -> dict[str, Any]:
    return {
        "jti": record.jti,
        "grant_id": record.grant_id,
        "kind": record.kind,
        "client_id": record.client_id,
        "subject": record.subject,
        "scope": " ".join(record.scope),
        "audience": _json(list(record.audience)),
        "claims": _json(dict(record.claims)),
        "jkt": record.jkt,
        "token_hash": record.token_hash,
        "issued_at": _ts(record.issued_at),
        "expires_at": _ts(record.expires_at),
        "revoked_at": None if record.revoked_at is None else _ts(record.revoked_at),
        "replaced_by": record.replaced_by,
    }


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        jti=row["jti"],
        grant_id=row["grant_id"],
        kind=row["kind"],
        client_id=row["client_id"],
        subject=row["subject"],
        scope=tuple(s for s in row["scope"].split(" ") if s),
        audience=tuple(orjson.loads(row["audience"])),
        claims=orjson.loads(row["claims"]),
        issued_at=datetime.fromisoformat(row["issued_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        jkt=row["jkt"],
        token_hash=row["token_hash"],
        revoked_at=_dt(row["revoked_at"]),
        replaced_by=row["replaced_by"],
    )


class _GroupCommit:
    """Inserts into ``oauth_tokens`` batched by natural concurrency, as the ledger does:
    whoever arrives while a batch is being written joins the next one. No timer."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, row: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await done

    async def _write_all(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # one scheduling yield: callers already running join in
            batch, self._pending = self._pending, []
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(insert(oauth_tokens), [row for row, _ in batch])
            except Exception as exc:  # every caller of the batch learns it was not recorded
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
