"""The ledger in SQLite or PostgreSQL, on SQLAlchemy Core and ``warden.store.schema.ledger``.

Forks are impossible by construction: ``seq`` is the primary key and every batch, inside its
transaction, checks that its first ``prev_hash`` is the hash of the entry before it. A second
writer racing for the same ``seq`` fails its transaction (:class:`LedgerConflict`) instead of
writing a branch. One writer per ledger is still the intended deployment: several PostgreSQL
replicas appending would spend their time in conflicts until they share a lock or elect a
single writer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from warden.audit.chain import GENESIS_HASH, canonical_payload, format_timestamp, parse_timestamp
from warden.audit.errors import LedgerConflict, LedgerCorrupted, LedgerUnavailable
from warden.audit.index import index_rows
from warden.audit.models import LedgerEntry, parse_event_type
from warden.store.schema import ledger, ledger_index


class SqlLedgerStore:
    """A :class:`~warden.audit.store.LedgerStore` over an async SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def head(self) -> tuple[int, str] | None:
        query = select(ledger.c.seq, ledger.c.hash).order_by(ledger.c.seq.desc()).limit(1)
        rows = await self._read(query)
        return (int(rows[0].seq), str(rows[0].hash)) if rows else None

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        if not rows:
            return
        try:
            async with self._engine.begin() as connection:
                await connection.execute(ledger.insert(), [_to_row(row) for row in rows])
                indexed = index_rows(rows)
                if indexed:
                    await connection.execute(ledger_index.insert(), indexed)
                await _check_extends(connection, rows[0])
        except IntegrityError as exc:
            raise LedgerConflict(
                f"entries `{rows[0].seq}`..`{rows[-1].seq}` were not written: "
                "another writer holds those seqs or an entry id is already used"
            ) from exc
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(f"the ledger store failed: {type(exc).__name__}") from exc

    async def scan(self, after_seq: int, limit: int) -> list[LedgerEntry]:
        query = ledger.select().where(ledger.c.seq > after_seq).order_by(ledger.c.seq).limit(limit)
        return [_to_entry(row) for row in await self._read(query)]

    async def tail(self, n: int) -> list[LedgerEntry]:
        if n <= 0:
            return []
        query = ledger.select().order_by(ledger.c.seq.desc()).limit(n)
        return [_to_entry(row) for row in reversed(await self._read(query))]

    async def get(self, entry_id: str) -> LedgerEntry | None:
        rows = await self._read(ledger.select().where(ledger.c.entry_id == entry_id))
        return _to_entry(rows[0]) if rows else None

    async def count(self) -> int:
        rows = await self._read(select(func.count()).select_from(ledger))
        return int(rows[0][0])

    async def by_person(
        self,
        person: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        """Entries acting for ``person`` recorded in [``start``, ``end``], ascending by seq
        (through ``ledger_index``'s person-and-time index)."""
        query = _indexed(limit, after_seq).where(ledger_index.c.person == person)
        if start is not None:
            query = query.where(ledger_index.c.recorded_at >= format_timestamp(start))
        if end is not None:
            query = query.where(ledger_index.c.recorded_at <= format_timestamp(end))
        return [_to_entry(row) for row in await self._read(query)]

    async def by_chain(
        self, chain_id: str, limit: int = 100, after_seq: int = 0
    ) -> list[LedgerEntry]:
        """Entries of chain ``chain_id`` after ``after_seq``, ascending by seq."""
        query = _indexed(limit, after_seq).where(ledger_index.c.chain_id == chain_id)
        return [_to_entry(row) for row in await self._read(query)]

    async def _read(self, query: Any) -> Sequence[Row[Any]]:
        try:
            async with self._engine.connect() as connection:
                return (await connection.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerUnavailable(f"the ledger store failed: {type(exc).__name__}") from exc


def _indexed(limit: int, after_seq: int) -> Any:
    """Ledger rows joined from their index rows, by seq."""
    return (
        select(ledger)
        .join(ledger_index, ledger_index.c.seq == ledger.c.seq)
        .where(ledger_index.c.seq > after_seq)
        .order_by(ledger_index.c.seq)
        .limit(max(limit, 0))
    )


async def _check_extends(connection: AsyncConnection, first: LedgerEntry) -> None:
    """Roll back unless ``first`` links to the stored entry right before it."""
    if first.seq == 1:
        linked = first.prev_hash == GENESIS_HASH
    else:
        query = select(ledger.c.hash).where(ledger.c.seq == first.seq - 1)
        linked = (await connection.execute(query)).scalar_one_or_none() == first.prev_hash
    if not linked:
        raise LedgerConflict(f"entry `{first.seq}` does not extend the stored ledger head")


def _to_row(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "version": entry.version,
        "event_type": str(entry.event_type),
        "recorded_at": format_timestamp(entry.recorded_at),
        "payload": entry.payload_json or canonical_payload(entry.payload),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def _to_entry(row: Row[Any]) -> LedgerEntry:
    seq = int(row.seq)
    try:
        recorded_at = parse_timestamp(row.recorded_at)
        payload = orjson.loads(row.payload)
    except (ValueError, TypeError) as exc:
        raise LedgerCorrupted(f"entry {seq} cannot be read: {exc}", seq=seq) from exc
    if not isinstance(payload, Mapping):
        raise LedgerCorrupted(f"entry {seq} cannot be read: its payload is not an object", seq=seq)
    return LedgerEntry(
        seq=seq,
        entry_id=str(row.entry_id),
        version=int(row.version),
        event_type=parse_event_type(str(row.event_type)),
        recorded_at=recorded_at,
        payload=payload,
        prev_hash=str(row.prev_hash),
        hash=str(row.hash),
    )
