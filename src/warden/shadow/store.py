"""Where sightings are kept: one table, the same SQL on SQLite and PostgreSQL (SQLAlchemy Core).

A flush merges a batch of :class:`~warden.shadow.tally.Pending` sightings into the table in one
transaction: existing rows are read (``FOR UPDATE`` on PostgreSQL, so two servers flushing
at once add up instead of overwriting each other) and updated, new ones inserted. If two
servers insert the same new sighting at once, one transaction fails and that server keeps
its batch for its next flush, when the row exists.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from warden.shadow.models import (
    MAX_HUMANS,
    MAX_SURFACES,
    MAX_TOOLS,
    Sighting,
    SightingKind,
    SightingStatus,
    sighting_id,
)
from warden.shadow.tally import Pending
from warden.store.schema import shadow_sightings as table

_CHUNK = 500  # ids per IN (...) query, well under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class SightingPage:
    sightings: list[Sighting]
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"sightings": [s.to_dict() for s in self.sightings], "total": self.total}


class SqlSightingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def merge(
        self, batch: Sequence[Pending], blocked: Collection[str], *, max_new: int
    ) -> tuple[list[Sighting], int]:
        """Add ``batch`` to the stored sightings. Returns the sightings stored for the first
        time (``blocked`` when their identifier is in ``blocked``, else ``open``), at most
        ``max_new`` of them, and how many more new ones were left out."""
        by_id = {sighting_id(p.kind, p.identifier): p for p in batch}
        created: list[dict[str, Any]] = []
        skipped = 0
        async with self._engine.begin() as conn:
            for chunk in _chunks(list(by_id), _CHUNK):
                existing = await _locked(conn, chunk)
                updates = [_merged(row, by_id[row["id"]]) for row in existing.values()]
                if updates:
                    await conn.execute(_UPDATE, updates)
                fresh = [i for i in chunk if i not in existing]
                room = max(0, max_new - len(created))
                skipped += max(0, len(fresh) - room)
                rows = [_new(i, by_id[i], by_id[i].identifier in blocked) for i in fresh[:room]]
                if rows:
                    await conn.execute(insert(table), rows)
                created.extend(rows)
        return [_sighting(row) for row in created], skipped

    async def page(self, status: SightingStatus | None, *, limit: int, offset: int) -> SightingPage:
        """Sightings, the most recently seen first."""
        where = [] if status is None else [table.c.status == status.value]
        query = select(table).where(*where).order_by(table.c.last_seen.desc(), table.c.id)
        async with self._engine.connect() as conn:
            total = await conn.execute(select(func.count()).select_from(table).where(*where))
            rows = await conn.execute(query.limit(limit).offset(offset))
            return SightingPage([_sighting(r._mapping) for r in rows], int(total.scalar_one()))

    async def get(self, ids: Iterable[str]) -> list[Sighting]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(table).where(table.c.id.in_(list(ids))).order_by(table.c.kind)
            )
            return [_sighting(r._mapping) for r in rows]

    async def set_status(
        self,
        ids: Collection[str],
        status: SightingStatus,
        *,
        reason: str,
        by: str,
        at: datetime,
        agent_id: str | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "status_reason": reason,
            "status_by": by,
            "status_at": at.isoformat(),
        }
        if agent_id is not None:
            values["agent_id"] = agent_id
        async with self._engine.begin() as conn:
            await conn.execute(update(table).where(table.c.id.in_(list(ids))).values(values))

    async def blocked_identifiers(self) -> set[str]:
        query = select(table.c.identifier).where(table.c.status == SightingStatus.BLOCKED.value)
        async with self._engine.connect() as conn:
            return {row.identifier for row in await conn.execute(query)}


_UPDATE = (
    update(table)
    .where(table.c.id == bindparam("b_id"))
    .values(
        last_seen=bindparam("b_last_seen"),
        first_seen=bindparam("b_first_seen"),
        seen_count=bindparam("b_count"),
        surfaces=bindparam("b_surfaces"),
        tools=bindparam("b_tools"),
        humans=bindparam("b_humans"),
        registry_status=bindparam("b_registry_status"),
    )
)


async def _locked(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Any]:
    query = select(table).where(table.c.id.in_(ids)).with_for_update()
    return {row.id: row._mapping for row in await conn.execute(query)}


def _merged(row: Any, pending: Pending) -> dict[str, Any]:
    last_seen = max(row["last_seen"], pending.last_seen.isoformat())
    newer = last_seen != row["last_seen"]
    return {
        "b_id": row["id"],
        "b_first_seen": min(row["first_seen"], pending.first_seen.isoformat()),
        "b_last_seen": last_seen,
        "b_count": row["seen_count"] + pending.count,
        "b_surfaces": _union(row["surfaces"], pending.surfaces, MAX_SURFACES),
        "b_tools": _union(row["tools"], pending.tools, MAX_TOOLS),
        "b_humans": _union(row["humans"], pending.humans, MAX_HUMANS),
        "b_registry_status": pending.registry_status if newer else row["registry_status"],
    }


def _union(stored: str, more: Iterable[str], cap: int) -> str:
    values: list[str] = orjson.loads(stored)
    for value in more:
        if len(values) >= cap:
            break
        if value not in values:
            values.append(value)
    return _json(values)


def _new(id_: str, pending: Pending, blocked: bool) -> dict[str, Any]:
    status = SightingStatus.BLOCKED if blocked else SightingStatus.OPEN
    return {
        "id": id_,
        "kind": pending.kind.value,
        "identifier": pending.identifier,
        "first_seen": pending.first_seen.isoformat(),
        "last_seen": pending.last_seen.isoformat(),
        "seen_count": pending.count,
        "surfaces": _json(pending.surfaces),
        "tools": _json(pending.tools),
        "humans": _json(pending.humans),
        "registry_status": pending.registry_status,
        "status": status.value,
        "status_reason": "identifier is blocked" if blocked else "",
        "status_by": None,
        "status_at": None,
        "agent_id": None,
    }


def _json(values: Iterable[str]) -> str:
    return orjson.dumps(list(values)).decode()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _sighting(row: Any) -> Sighting:
    return Sighting(
        id=row["id"],
        kind=SightingKind(row["kind"]),
        identifier=row["identifier"],
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        count=int(row["seen_count"]),
        surfaces=tuple(orjson.loads(row["surfaces"])),
        tools=tuple(orjson.loads(row["tools"])),
        humans=tuple(orjson.loads(row["humans"])),
        registry_status=row["registry_status"],
        status=SightingStatus(row["status"]),
        status_reason=row["status_reason"],
        status_by=row["status_by"],
        status_at=_when(row["status_at"]),
        agent_id=row["agent_id"],
    )
