"""Connections on SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.gateway.connections.models import AuthKind, Connection, Limits, Protocol, Route
from warden.store.schema import gateway_connections as table


class SqlConnectionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, connection: Connection, secret: str | None) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(table).values(**_row(connection), secret=secret))

    async def update(self, connection: Connection, secret: str | None) -> None:
        async with self._engine.begin() as conn:
            statement = update(table).where(table.c.name == connection.name)
            await conn.execute(statement.values(**_row(connection), secret=secret))

    async def delete(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.name == name))
        return bool(result.rowcount)

    async def all(self) -> list[tuple[Connection, str | None]]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(table).order_by(table.c.name))).all()
        return [(_connection(row._mapping), row.secret) for row in rows]


def _row(c: Connection) -> dict[str, Any]:
    assert c.created_at is not None and c.updated_at is not None
    return {
        "name": c.name,
        "protocol": c.protocol.value,
        "url": c.url,
        "auth": c.auth.value,
        "params": orjson.dumps(dict(c.params)).decode(),
        "routes": orjson.dumps([r.to_dict() for r in c.routes]).decode(),
        "tool_prefix": c.tool_prefix,
        "limits": orjson.dumps(c.limits.to_dict()).decode(),
        "description": c.description,
        "key_id": c.key_id,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


def _connection(row: Any) -> Connection:
    return Connection(
        name=row["name"],
        protocol=Protocol(row["protocol"]),
        url=row["url"],
        auth=AuthKind(row["auth"]),
        params=orjson.loads(row["params"]),
        routes=tuple(Route(**r) for r in orjson.loads(row["routes"])),
        tool_prefix=row["tool_prefix"],
        limits=Limits(**orjson.loads(row["limits"])),
        description=row["description"],
        has_secret=row["secret"] is not None,
        key_id=row["key_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )
