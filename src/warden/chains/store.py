"""Delegation hops on SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.chains.models import Hop
from warden.store.schema import chain_hops


class SqlChainStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, hops: Sequence[Hop]) -> None:
        """Hops of one delegation (hop 0 and hop 1 when a chain starts), in one transaction."""
        async with self._engine.begin() as conn:
            await conn.execute(insert(chain_hops), [hop_row(h) for h in hops])

    async def set_entry(self, hop_id: str, entry_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(chain_hops).where(chain_hops.c.id == hop_id).values(entry_id=entry_id)
            )

    async def live(self, now: datetime) -> list[Hop]:
        """Every hop not yet expired (what the decision path keeps in memory)."""
        query = select(chain_hops).where(chain_hops.c.expires_at > now.isoformat())
        async with self._engine.connect() as conn:
            return [hop_from_row(r._mapping) for r in await conn.execute(query)]

    async def get(self, hop_id: str) -> Hop | None:
        query = select(chain_hops).where(chain_hops.c.id == hop_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return hop_from_row(row._mapping) if row else None

    async def of_chain(self, chain_id: str) -> list[Hop]:
        """Every hop of a chain (tree), shallowest first."""
        query = (
            select(chain_hops)
            .where(chain_hops.c.chain_id == chain_id)
            .order_by(chain_hops.c.depth, chain_hops.c.created_at, chain_hops.c.id)
        )
        async with self._engine.connect() as conn:
            return [hop_from_row(r._mapping) for r in await conn.execute(query)]

    async def revoke(self, hop_ids: Iterable[str], now: datetime) -> None:
        ids = list(hop_ids)
        if not ids:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(chain_hops)
                .where(chain_hops.c.id.in_(ids), chain_hops.c.revoked_at.is_(None))
                .values(revoked_at=now.isoformat())
            )

    async def find(
        self, *, person: str | None = None, agent: str | None = None, limit: int = 100
    ) -> list[Hop]:
        """Hops for a person, or where an agent delegated or was delegated to; newest first."""
        query = select(chain_hops).order_by(chain_hops.c.created_at.desc()).limit(limit)
        if person is not None:
            query = query.where(chain_hops.c.person == person)
        if agent is not None:
            query = query.where(
                or_(chain_hops.c.to_agent == agent, chain_hops.c.from_party == agent)
            )
        async with self._engine.connect() as conn:
            return [hop_from_row(r._mapping) for r in await conn.execute(query)]


def hop_row(h: Hop) -> dict[str, Any]:
    return {
        "id": h.id,
        "chain_id": h.chain_id,
        "parent_id": h.parent_id,
        "depth": h.depth,
        "person": h.person,
        "from_party": h.from_party,
        "to_agent": h.to_agent,
        "mandate_id": h.mandate_id,
        "root_mandate_id": h.root_mandate_id,
        "exchange_jti": h.exchange_jti,
        "task": h.task,
        "tools": orjson.dumps(list(h.tools)).decode() if h.tools is not None else None,
        "limits": orjson.dumps({t: dict(a) for t, a in h.limits.items()}).decode(),
        "digest": h.digest,
        "created_at": h.created_at.isoformat(),
        "expires_at": h.expires_at.isoformat(),
        "revoked_at": h.revoked_at.isoformat() if h.revoked_at else None,
        "entry_id": h.entry_id,
    }


def hop_from_row(row: Any) -> Hop:
    tools = row["tools"]
    return Hop(
        id=row["id"],
        chain_id=row["chain_id"],
        parent_id=row["parent_id"],
        depth=row["depth"],
        person=row["person"],
        from_party=row["from_party"],
        to_agent=row["to_agent"],
        mandate_id=row["mandate_id"],
        root_mandate_id=row["root_mandate_id"],
        exchange_jti=row["exchange_jti"],
        task=row["task"],
        tools=tuple(orjson.loads(tools)) if tools is not None else None,
        limits=orjson.loads(row["limits"]),
        digest=row["digest"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
        entry_id=row["entry_id"],
    )
