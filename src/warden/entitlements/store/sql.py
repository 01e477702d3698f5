"""Entitlement store on SQLAlchemy Core: the same SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.entitlements.errors import EntitlementNotFound
from warden.entitlements.models import Entitlement, GrantState
from warden.store.schema import entitlements

_CHANGES = ("state", "changed_by", "changed_at", "change_reason")
_ORDER = [entitlements.c[c] for c in ("granted_at", "agent_id", "action", "resource_type")]
_ORDER += [entitlements.c.resource_id, entitlements.c.id]


class SqlEntitlementStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, grants: Sequence[Entitlement]) -> None:
        if grants:
            async with self._engine.begin() as conn:
                await conn.execute(insert(entitlements), [_row(g) for g in grants])

    async def save(self, grants: Sequence[Entitlement]) -> None:
        async with self._engine.begin() as conn:
            for grant in grants:
                values = {k: v for k, v in _row(grant).items() if k in _CHANGES}
                result = await conn.execute(
                    update(entitlements).where(entitlements.c.id == grant.id).values(values)
                )
                if result.rowcount == 0:
                    raise EntitlementNotFound(f"no entitlement `{grant.id}`")

    async def get(self, grant_id: str) -> Entitlement | None:
        query = select(entitlements).where(entitlements.c.id == grant_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _grant(row._mapping)

    async def list(
        self, *, agent_id: str | None = None, state: GrantState | None = None
    ) -> list[Entitlement]:
        query = select(entitlements).order_by(*_ORDER)
        if agent_id is not None:
            query = query.where(entitlements.c.agent_id == agent_id)
        if state is not None:
            query = query.where(entitlements.c.state == state.value)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_grant(r._mapping) for r in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _row(grant: Entitlement) -> dict[str, Any]:
    return {
        "id": grant.id,
        "agent_id": grant.agent_id,
        "action": grant.action,
        "resource_type": grant.resource_type,
        "resource_id": grant.resource_id,
        "justification": grant.justification,
        "granted_by": grant.granted_by,
        "granted_at": grant.granted_at.isoformat(),
        "expires_at": _iso(grant.expires_at),
        "state": grant.state.value,
        "template": grant.template,
        "changed_by": grant.changed_by,
        "changed_at": _iso(grant.changed_at),
        "change_reason": grant.change_reason,
    }


def _grant(row: Any) -> Entitlement:
    return Entitlement(
        id=row["id"],
        agent_id=row["agent_id"],
        action=row["action"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        justification=row["justification"],
        granted_by=row["granted_by"],
        granted_at=datetime.fromisoformat(row["granted_at"]),
        expires_at=_when(row["expires_at"]),
        state=GrantState(row["state"]),
        template=row["template"],
        changed_by=row["changed_by"],
        changed_at=_when(row["changed_at"]),
        change_reason=row["change_reason"],
    )
