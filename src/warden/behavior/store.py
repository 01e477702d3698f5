"""Where baselines are kept: table ``baselines``, one row per (kind, subject), the same SQL on
SQLite and PostgreSQL (SQLAlchemy Core).

Baselines live in memory; the service writes the changed ones behind (housekeeping), so a
row is replaced whole: delete and insert in one transaction. Two servers learning the same
agent each write their own view; the last flush wins (baselines are statistics, not records).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.behavior.baseline import Baseline
from warden.store.schema import baselines as table

_DELETE = delete(table).where(
    and_(table.c.kind == bindparam("b_kind"), table.c.subject == bindparam("b_subject"))
)


def row_of(baseline: Baseline, now: datetime) -> dict[str, Any]:
    """``baseline`` as a row, serialised now (the caller may go on learning afterwards)."""
    return {
        "kind": baseline.kind,
        "subject": baseline.subject,
        "frozen": baseline.frozen,
        "actions": baseline.actions,
        "first_at": baseline.first_at.isoformat() if baseline.first_at else None,
        "last_at": baseline.last_at.isoformat() if baseline.last_at else None,
        "updated_at": now.isoformat(),
        "data": orjson.dumps(baseline.to_data()).decode(),
    }


class SqlBaselineStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> list[Baseline]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(table))
            return [_baseline(r._mapping) for r in rows]

    async def save(self, rows: Sequence[dict[str, Any]]) -> None:
        """Replace the stored rows of these baselines (from :func:`row_of`)."""
        if not rows:
            return
        keys = [{"b_kind": r["kind"], "b_subject": r["subject"]} for r in rows]
        async with self._engine.begin() as conn:
            await conn.execute(_DELETE, keys)
            await conn.execute(insert(table), list(rows))

    async def delete(self, kind: str, subject: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(_DELETE, {"b_kind": kind, "b_subject": subject})


def _baseline(row: Any) -> Baseline:
    return Baseline.from_data(
        row["kind"],
        row["subject"],
        orjson.loads(row["data"]),
        frozen=bool(row["frozen"]),
        actions=int(row["actions"]),
        first_at=_when(row["first_at"]),
        last_at=_when(row["last_at"]),
    )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
