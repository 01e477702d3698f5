"""Where sessions are kept.

Live state sits behind :class:`SessionStore`, keyed by session id. The default,
:class:`MemorySessionStore`, is a bounded LRU map of live objects in this process; a shared
store (Redis) can implement the same protocol later with :meth:`SessionState.to_bytes` /
:meth:`SessionState.from_bytes` without touching the logic: the service calls :meth:`put`
after every change.

Summaries (counts, sets, status: never argument values) are persisted in the ``sessions``
table by :class:`SqlSessionSummaries`, so suspensions survive restarts and the API can show
sessions no longer in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import orjson
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.sessions.state import SessionState
from warden.store.schema import sessions as table

_CHUNK = 500  # ids per IN (...) query, well under SQLite's bound-parameter limit
_SETS = ("tools_used", "labels_seen", "labels_changed", "destinations")


class SessionStore(Protocol):
    """Live session state by id. Every method is O(1)."""

    def get(self, id: str) -> SessionState | None: ...

    def put(self, state: SessionState) -> SessionState | None:
        """Keep ``state``; returns a session dropped to make room, if any."""

    def pop(self, id: str) -> SessionState | None: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[SessionState]:
        """Every session held, least recently used first."""


class MemorySessionStore:
    """At most ``max_sessions`` sessions in this process; the least recently used is dropped."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._states: OrderedDict[str, SessionState] = OrderedDict()

    def get(self, id: str) -> SessionState | None:
        state = self._states.get(id)
        if state is not None:
            self._states.move_to_end(id)
        return state

    def put(self, state: SessionState) -> SessionState | None:
        self._states[state.id] = state
        self._states.move_to_end(state.id)
        if len(self._states) > self.max_sessions:
            return self._states.popitem(last=False)[1]
        return None

    def pop(self, id: str) -> SessionState | None:
        return self._states.pop(id, None)

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[SessionState]:
        return iter(list(self._states.values()))


class SqlSessionSummaries:
    """The ``sessions`` table: one summary row per session, upserted by id."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def upsert(self, summaries: Sequence[dict[str, Any]], updated_at: str) -> None:
        rows = {s["id"]: _row(s, updated_at) for s in summaries}
        async with self._engine.begin() as conn:
            for chunk in _chunks(list(rows), _CHUNK):
                found = await conn.execute(select(table.c.id).where(table.c.id.in_(chunk)))
                existing = {r.id for r in found}
                changed = [{"b_id": i, **rows[i]} for i in chunk if i in existing]
                if changed:
                    await conn.execute(_UPDATE, [_bound(r) for r in changed])
                fresh = [rows[i] for i in chunk if i not in existing]
                if fresh:
                    await conn.execute(insert(table), fresh)

    async def get(self, id: str) -> dict[str, Any] | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.id == id))).first()
        return None if row is None else _summary(row._mapping)

    async def suspended(self) -> list[dict[str, Any]]:
        query = select(table).where(table.c.status == "suspended")
        async with self._engine.connect() as conn:
            return [_summary(r._mapping) for r in await conn.execute(query)]

    async def page(
        self, agent: str | None, status: str | None, limit: int, exclude: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Summaries, the most recently active first (``exclude``: ids shown from memory)."""
        where = []
        if agent is not None:
            where.append(table.c.agent == agent)
        if status is not None:
            where.append(table.c.status == status)
        skip = set(exclude)
        query = (
            select(table)
            .where(*where)
            .order_by(table.c.updated_at.desc(), table.c.id)
            .limit(limit + len(skip))
        )
        async with self._engine.connect() as conn:
            rows = [_summary(r._mapping) for r in await conn.execute(query)]
        return [r for r in rows if r["id"] not in skip][:limit]


_COLUMNS = [str(c.name) for c in table.columns]  # plain str: orjson refuses str subclasses
_UPDATE_COLUMNS = [name for name in _COLUMNS if name != "id"]
_UPDATE = (
    update(table)
    .where(table.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _UPDATE_COLUMNS})
)


def _bound(row: dict[str, Any]) -> dict[str, Any]:
    return {"b_id": row["b_id"], **{f"b_{n}": row[n] for n in _UPDATE_COLUMNS}}


def _row(summary: dict[str, Any], updated_at: str) -> dict[str, Any]:
    row = {name: summary[name] for name in _UPDATE_COLUMNS if name in summary}
    for name in _SETS:
        row[name] = orjson.dumps(summary[name]).decode()
    row["id"] = summary["id"]
    row["updated_at"] = updated_at
    return row


def _summary(row: Any) -> dict[str, Any]:
    summary = {name: row[name] for name in _COLUMNS if name != "updated_at"}
    for name in _SETS:
        summary[name] = orjson.loads(row[name])
    return summary


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
