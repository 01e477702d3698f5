"""Appending to the ledger with group commit.

Callers append concurrently; each append is queued and one writer task takes everything
queued at that moment (up to ``max_batch``), chains it onto the head, writes it in one
transaction and only then answers every caller. Batches grow from natural concurrency while
the previous transaction is in flight — there is no timer. One fsync per batch, not per entry.

If a batch fails, all its callers get :class:`LedgerUnavailable`, the in-memory head is
discarded and reloaded from the store before the next batch: the chain never has a hole or
a fork. An entry whose append raised may still have been committed (a connection lost after
COMMIT); an entry whose append returned is never lost.

One writer per ledger is assumed. The SQL store refuses a batch that does not extend the
stored head, so a second writer fails cleanly rather than forking, but several PostgreSQL
replicas appending to one ledger need a shared lock or a single elected writer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

import orjson

from warden.audit.chain import (
    GENESIS_HASH,
    canonical_payload,
    format_timestamp,
    hash_with_canonical_payload,
)
from warden.audit.errors import InvalidEntry, LedgerConflict, LedgerUnavailable
from warden.audit.models import LEDGER_VERSION, EventType, LedgerEntry
from warden.audit.store import LedgerStore

DEFAULT_MAX_BATCH: Final = 512
_CONFLICT_RETRIES: Final = 3
_MAX_ENTRY_ID_LENGTH: Final = 64  # warden.store.schema.ledger.entry_id


@dataclass(frozen=True, slots=True)
class _Pending:
    """An append waiting for the writer: validated, payload already canonical."""

    entry_id: str
    event_type: EventType
    recorded_at: datetime
    recorded_at_iso: str
    payload_json: str
    done: asyncio.Future[LedgerEntry]


_STOP: Final = object()


class Ledger:
    """The append side of the audit ledger over a :class:`LedgerStore`.

    Use ``await ledger.start()`` ... ``await ledger.close()``, or ``async with Ledger(store)``.
    """

    def __init__(self, store: LedgerStore, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue()
        self._head: tuple[int, str] | None = None
        self._head_stale = True
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def head(self) -> tuple[int, str] | None:
        """The last acknowledged ``(seq, hash)`` as this writer knows it."""
        return self._head

    async def start(self) -> None:
        """Load the head from the store and start the writer task."""
        if self._writer is not None:
            raise LedgerUnavailable("the ledger is already started")
        await self._reload_head()
        self._writer = asyncio.create_task(self._run(), name="warden-ledger-writer")

    async def close(self) -> None:
        """Commit everything already queued, then stop the writer. Later appends fail."""
        self._closing = True
        if self._writer is None:
            return
        if not self._writer.done():
            self._queue.put_nowait(_STOP)
        await asyncio.shield(self._writer)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def append(
        self,
        event_type: EventType,
        payload: Mapping[str, Any],
        *,
        entry_id: str | None = None,
        recorded_at: datetime | None = None,
    ) -> LedgerEntry:
        """Record an event; return the entry once it is durably committed.

        Raises :class:`InvalidPayload` / :class:`InvalidEntry` for a malformed append
        (nothing queued) and :class:`LedgerUnavailable` when the entry was not committed.
        """
        entry_id = new_entry_id() if entry_id is None else entry_id
        recorded_at = recorded_at or datetime.now(UTC)
        for attempt in range(_CONFLICT_RETRIES + 1):
            pending = _prepare(event_type, payload, entry_id, recorded_at)
            if self._writer is None or self._writer.done() or self._closing:
                pending.done.cancel()
                raise LedgerUnavailable("the ledger is not running")
            self._queue.put_nowait(pending)
            try:
                return await pending.done
            except LedgerConflict:
                # Another writer advanced the chain; nothing of ours was written. The head
                # is reloaded before the next batch, so chaining again is safe.
                if attempt == _CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = await self._next_batch()
            if batch:
                await self._commit(batch)

    async def _next_batch(self) -> tuple[list[_Pending], bool]:
        """Wait for one append, then take whatever else is queued right now."""
        batch: list[_Pending] = []
        item = await self._queue.get()
        # One scheduling yield (not a timer): callers already running get to enqueue, so a
        # burst of concurrent appends shares one transaction instead of trickling in.
        await asyncio.sleep(0)
        while item is not _STOP:
            assert isinstance(item, _Pending)
            batch.append(item)
            if len(batch) >= self._max_batch or self._queue.empty():
                return batch, False
            item = self._queue.get_nowait()
        return batch, True

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            if self._head_stale:
                await self._reload_head()
            rows = _chain(self._head, batch)
            await self._store.append_batch(rows)
        except BaseException as exc:
            self._head_stale = True
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._head = (rows[-1].seq, rows[-1].hash)
        for pending, row in zip(batch, rows, strict=True):
            if not pending.done.done():
                pending.done.set_result(row)

    async def _reload_head(self) -> None:
        self._head = await self._store.head()
        self._head_stale = False


def _prepare(
    event_type: EventType,
    payload: Mapping[str, Any],
    entry_id: str | None,
    recorded_at: datetime | None,
) -> _Pending:
    """Validate an append in the caller's task, so a bad one never reaches a batch."""
    try:
        event = EventType(event_type)
    except ValueError:
        raise InvalidEntry(f"unknown event type `{event_type}`") from None
    entry_id = _checked_entry_id(new_entry_id() if entry_id is None else entry_id)
    moment = recorded_at or datetime.now(UTC)
    recorded_at_iso = format_timestamp(moment)
    return _Pending(
        entry_id=entry_id,
        event_type=event,
        recorded_at=moment.astimezone(UTC),
        recorded_at_iso=recorded_at_iso,
        payload_json=canonical_payload(payload),
        done=asyncio.get_running_loop().create_future(),
    )


def _checked_entry_id(entry_id: str) -> str:
    if not isinstance(entry_id, str) or not 0 < len(entry_id) <= _MAX_ENTRY_ID_LENGTH:
        raise InvalidEntry(f"entry id `{entry_id}` must be 1 to 64 characters")
    if not entry_id.isprintable():
        raise InvalidEntry(f"entry id {entry_id!r} has unprintable characters")
    return entry_id


def _chain(head: tuple[int, str] | None, batch: Sequence[_Pending]) -> list[LedgerEntry]:
    """Number and hash ``batch`` in order, starting after ``head``."""
    seq, prev_hash = head if head is not None else (0, GENESIS_HASH)
    rows: list[LedgerEntry] = []
    for pending in batch:
        rows.append(_entry(seq + len(rows) + 1, prev_hash, pending))
        prev_hash = rows[-1].hash
    return rows


def _entry(seq: int, prev_hash: str, pending: _Pending) -> LedgerEntry:
    digest = hash_with_canonical_payload(
        LEDGER_VERSION,
        seq,
        pending.entry_id,
        pending.event_type.value,
        pending.recorded_at_iso,
        pending.payload_json,
        prev_hash,
    )
    return LedgerEntry(
        seq=seq,
        entry_id=pending.entry_id,
        version=LEDGER_VERSION,
        event_type=pending.event_type,
        recorded_at=pending.recorded_at,
        payload=orjson.loads(pending.payload_json),
        prev_hash=prev_hash,
        hash=digest,
        payload_json=pending.payload_json,
    )


def _fail(batch: Sequence[_Pending], cause: BaseException) -> None:
    """Tell every waiter; a conflict stays a :class:`LedgerConflict` so callers can tell."""
    kind = type(cause) if isinstance(cause, LedgerUnavailable) else LedgerUnavailable
    reason = cause.message if isinstance(cause, LedgerUnavailable) else type(cause).__name__
    for pending in batch:
        if pending.done.done():
            continue
        error = kind(f"the entry was not recorded: {reason}")
        error.__cause__ = cause
        pending.done.set_exception(error)


def new_entry_id() -> str:
    """A new entry id: a UUIDv7 (RFC 9562 §5.7) as 32 hex digits, sortable by time."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 68) << 64
    value |= 0b10 << 62 | (rand & (2**62 - 1))
    return f"{value:032x}"
