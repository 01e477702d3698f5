"""Mandates and their cumulative budgets on SQLAlchemy Core (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.mandates.models import DesignatedValue, Mandate, ValueKind
from warden.store.schema import mandate_budgets, mandates


class SqlMandateStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, mandate: Mandate) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(mandates).values(**_row(mandate)))

    async def live(self, now: datetime) -> list[Mandate]:
        """Every mandate not yet expired (what the decision path keeps in memory)."""
        query = select(mandates).where(mandates.c.expires_at > now.isoformat())
        async with self._engine.connect() as conn:
            return [_mandate(r._mapping) for r in await conn.execute(query)]

    async def get(self, mandate_id: str) -> Mandate | None:
        query = select(mandates).where(mandates.c.id == mandate_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _mandate(row._mapping) if row else None

    async def revoke(self, mandate_id: str, now: datetime) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(mandates)
                .where(mandates.c.id == mandate_id, mandates.c.revoked_at.is_(None))
                .values(revoked_at=now.isoformat())
            )
        return bool(result.rowcount)

    async def spent(self, mandate_ids: list[str]) -> dict[str, dict[str, Decimal]]:
        if not mandate_ids:
            return {}
        query = select(mandate_budgets).where(mandate_budgets.c.mandate_id.in_(mandate_ids))
        found: dict[str, dict[str, Decimal]] = {}
        async with self._engine.connect() as conn:
            for row in await conn.execute(query):
                found.setdefault(row.mandate_id, {})[row.budget] = Decimal(row.spent)
        return found

    async def set_spent(
        self, mandate_id: str, totals: Mapping[str, Decimal], now: datetime
    ) -> None:
        rows = [
            {"mandate_id": mandate_id, "budget": b, "spent": str(v), "updated_at": now.isoformat()}
            for b, v in totals.items()
        ]
        if not rows:
            return
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(mandate_budgets)
        statement = statement.on_conflict_do_update(
            index_elements=["mandate_id", "budget"],
            set_={"spent": statement.excluded.spent, "updated_at": statement.excluded.updated_at},
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement, rows)


def _row(m: Mandate) -> dict[str, Any]:
    details = {
        "authorization_details": list(m.authorization_details),
        "designated": [d.to_dict() for d in m.designated],
        "extra": dict(m.extra),
    }
    return {
        "id": m.id,
        "person": m.person,
        "request": m.request,
        "profile": m.profile,
        "profile_version": m.profile_version,
        "confidence": f"{m.confidence:.4f}",
        "details": orjson.dumps(details).decode(),
        "issued_by": m.issued_by,
        "issued_at": m.issued_at.isoformat(),
        "expires_at": m.expires_at.isoformat(),
        "audience": m.audience,
        "revoked_at": m.revoked_at.isoformat() if m.revoked_at else None,
    }


def _mandate(row: Any) -> Mandate:
    details = orjson.loads(row["details"])
    return Mandate(
        id=row["id"],
        person=row["person"],
        request=row["request"],
        profile=row["profile"],
        profile_version=row["profile_version"],
        confidence=float(row["confidence"]),
        authorization_details=tuple(details.get("authorization_details", ())),
        designated=tuple(
            DesignatedValue(ValueKind(d["kind"]), d["value"], d["normalized"])
            for d in details.get("designated", ())
        ),
        issued_by=row["issued_by"],
        issued_at=datetime.fromisoformat(row["issued_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        audience=row["audience"],
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
        extra=details.get("extra", {}),
    )
