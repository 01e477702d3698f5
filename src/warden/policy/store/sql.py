"""Policy revisions in SQL (SQLAlchemy Core): SQLite and PostgreSQL alike."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.policy.models import Bundle, PolicyRevision
from warden.store.errors import StoreError
from warden.store.schema import policy_revisions as table

_SAVE_ATTEMPTS = 5


class SqlPolicyStore:
    """Revisions in the ``policy_revisions`` table; the bundle is stored as JSON."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def latest(self) -> PolicyRevision | None:
        query = select(table).order_by(table.c.revision.desc()).limit(1)
        rows = await self._rows(query)
        return _revision(rows[0]) if rows else None

    async def get(self, revision: int) -> PolicyRevision | None:
        rows = await self._rows(select(table).where(table.c.revision == revision))
        return _revision(rows[0]) if rows else None

    async def list(self) -> builtins.list[PolicyRevision]:
        rows = await self._rows(select(table).order_by(table.c.revision.desc()))
        return [_revision(row) for row in rows]

    async def save(self, bundle: Bundle, author: str, created_at: datetime) -> PolicyRevision:
        # Two writers may pick the same number; the primary key refuses one, which retries.
        for _ in range(_SAVE_ATTEMPTS):
            try:
                return await self._insert_next(bundle, author, created_at)
            except IntegrityError:
                continue
            except SQLAlchemyError as exc:
                raise StoreError(f"could not save the policy revision: {exc}") from exc
        raise StoreError("could not save the policy revision: too many concurrent writers")

    async def _insert_next(
        self, bundle: Bundle, author: str, created_at: datetime
    ) -> PolicyRevision:
        async with self._engine.begin() as connection:
            latest = await connection.scalar(select(func.max(table.c.revision)))
            saved = PolicyRevision((latest or 0) + 1, created_at, author, bundle.digest, bundle)
            await connection.execute(insert(table).values(_values(saved)))
        return saved

    async def _rows(self, query: Any) -> builtins.list[Any]:
        try:
            async with self._engine.connect() as connection:
                return builtins.list((await connection.execute(query)).mappings())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read policy revisions: {exc}") from exc


def _values(revision: PolicyRevision) -> dict[str, Any]:
    return {
        "revision": revision.revision,
        "created_at": revision.created_at.isoformat(),
        "author": revision.author,
        "digest": revision.digest,
        "bundle": revision.bundle.to_json(),
    }


def _revision(row: Any) -> PolicyRevision:
    return PolicyRevision(
        revision=row["revision"],
        created_at=datetime.fromisoformat(row["created_at"]),
        author=row["author"],
        digest=row["digest"],
        bundle=Bundle.from_json(row["bundle"]),
    )
