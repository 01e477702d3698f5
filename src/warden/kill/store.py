"""Kills on SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.kill.channel import CHANNEL
from warden.kill.models import Kill, KillKind
from warden.store.schema import kills


class SqlKillStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, kill: Kill) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(kills).values(**_row(kill)))
            await self._notify(conn, kill.id)

    async def get(self, kill_id: str) -> Kill | None:
        found = await self._select(select(kills).where(kills.c.id == kill_id))
        return found[0] if found else None

    async def _notify(self, conn: Any, kill_id: str) -> None:
        """PostgreSQL: tell every replica, on commit (see :mod:`warden.kill.channel`)."""
        if self._engine.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_notify(:channel, :id)"), {"channel": CHANNEL, "id": kill_id}
            )

    async def revive(
        self, kind: KillKind, target: str, *, actor: str, reason: str, now: datetime
    ) -> int:
        statement = (
            update(kills)
            .where(kills.c.kind == kind.value, kills.c.target == target)
            .where(kills.c.revived_at.is_(None))
            .values(revived_at=now.isoformat(), revived_by=actor, revive_reason=reason)
            .returning(kills.c.id)
        )
        async with self._engine.begin() as conn:
            revived = [row.id for row in await conn.execute(statement)]
            for kill_id in revived:
                await self._notify(conn, kill_id)
        return len(revived)

    async def active(self) -> list[Kill]:
        return await self._select(select(kills).where(kills.c.revived_at.is_(None)))

    async def changed_since(self, since: datetime) -> list[Kill]:
        """Kills made or revived at or after ``since`` (another replica's, for sync)."""
        stamp = since.isoformat()
        query = select(kills).where(or_(kills.c.created_at >= stamp, kills.c.revived_at >= stamp))
        return await self._select(query)

    async def recent(self, *, active_only: bool, limit: int) -> list[Kill]:
        query = select(kills).order_by(kills.c.created_at.desc()).limit(limit)
        if active_only:
            query = query.where(kills.c.revived_at.is_(None))
        return await self._select(query)

    async def _select(self, query: Any) -> list[Kill]:
        async with self._engine.connect() as conn:
            return [_kill(r._mapping) for r in await conn.execute(query)]


def _row(k: Kill) -> dict[str, Any]:
    return {
        "id": k.id,
        "kind": k.kind.value,
        "target": k.target,
        "reason": k.reason,
        "actor": k.actor,
        "created_at": k.created_at.isoformat(),
        "revived_at": k.revived_at.isoformat() if k.revived_at else None,
        "revived_by": k.revived_by,
        "revive_reason": k.revive_reason,
    }


def _kill(row: Any) -> Kill:
    return Kill(
        id=row["id"],
        kind=KillKind(row["kind"]),
        target=row["target"],
        reason=row["reason"],
        actor=row["actor"],
        created_at=datetime.fromisoformat(row["created_at"]),
        revived_at=datetime.fromisoformat(row["revived_at"]) if row["revived_at"] else None,
        revived_by=row["revived_by"],
        revive_reason=row["revive_reason"],
    )
