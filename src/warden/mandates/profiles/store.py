"""Profile versions in SQL (SQLAlchemy Core): SQLite and PostgreSQL alike.

Versions are append-only: applying a profile adds ``(name, version + 1)``; nothing is updated
or deleted, so a mandate issued under version 3 can always be judged by version 3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.errors import StoreError
from warden.store.schema import purpose_profiles as table

_SAVE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One stored version of a profile: its YAML exactly as applied, who and when."""

    name: str
    version: int
    yaml: str
    digest: str
    author: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
        }


class SqlProfileStore:
    """Versions in the ``purpose_profiles`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def all(self) -> list[ProfileRecord]:
        """Every version of every profile, by name then version."""
        query = select(table).order_by(table.c.name, table.c.version)
        return [_record(row) for row in await self._rows(query)]

    async def get(self, name: str, version: int | None = None) -> ProfileRecord | None:
        query = select(table).where(table.c.name == name)
        if version is None:
            query = query.order_by(table.c.version.desc()).limit(1)
        else:
            query = query.where(table.c.version == version)
        rows = await self._rows(query)
        return _record(rows[0]) if rows else None

    async def history(self, name: str) -> list[ProfileRecord]:
        """Every version of ``name``, newest first."""
        query = select(table).where(table.c.name == name).order_by(table.c.version.desc())
        return [_record(row) for row in await self._rows(query)]

    async def save(
        self, name: str, text: str, digest: str, author: str, created_at: datetime
    ) -> ProfileRecord:
        """Store ``text`` as the next version of ``name``."""
        # Two writers may pick the same number; the primary key refuses one, which retries.
        for _ in range(_SAVE_ATTEMPTS):
            try:
                return await self._insert_next(name, text, digest, author, created_at)
            except IntegrityError:
                continue
            except SQLAlchemyError as exc:
                raise StoreError(f"could not save purpose profile `{name}`: {exc}") from exc
        raise StoreError(f"could not save purpose profile `{name}`: too many concurrent writers")

    async def _insert_next(
        self, name: str, text: str, digest: str, author: str, created_at: datetime
    ) -> ProfileRecord:
        async with self._engine.begin() as connection:
            query = select(func.max(table.c.version)).where(table.c.name == name)
            latest = await connection.scalar(query)
            record = ProfileRecord(name, (latest or 0) + 1, text, digest, author, created_at)
            await connection.execute(
                insert(table).values(
                    name=record.name,
                    version=record.version,
                    yaml=record.yaml,
                    digest=record.digest,
                    author=record.author,
                    created_at=record.created_at.isoformat(),
                )
            )
        return record

    async def _rows(self, query: Any) -> list[Any]:
        try:
            async with self._engine.connect() as connection:
                return list((await connection.execute(query)).mappings())
        except SQLAlchemyError as exc:
            raise StoreError(f"could not read purpose profiles: {exc}") from exc


def _record(row: Any) -> ProfileRecord:
    return ProfileRecord(
        name=row["name"],
        version=row["version"],
        yaml=row["yaml"],
        digest=row["digest"],
        author=row["author"],
        created_at=datetime.fromisoformat(row["created_at"]),
    )
