"""The ledger in SQLite, appended through one dedicated connection on the event loop.

SQLite has a single writer anyway. Through aiosqlite every statement of a group commit
(begin, insert, check, commit, reset) is a thread round trip; handing the work to a writer
thread instead makes that thread wait for the GIL (up to the 5 ms switch interval) at every
statement while the event loop is busy. Measured under HTTP load at concurrency 16:
aiosqlite ~3.9 ms per batch, a writer thread ~4.5 ms, this inline connection ~1.1 ms for
13 entries — mostly the fsync that makes the batch durable. The loop is blocked for that
millisecond once per batch, not once per decision. Reads still go through the async engine
(:class:`SqlLedgerStore`); WAL lets them run beside the writer.

The writer never waits for SQLite's lock on the event loop (``busy_timeout=0``): when another
connection (a registry write through aiosqlite) holds it, the append yields and retries with
a short backoff, so that connection can finish; after 5 s the append fails closed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.chain import GENESIS_HASH
from warden.audit.errors import LedgerConflict, LedgerUnavailable
from warden.audit.index import index_rows
from warden.audit.models import LedgerEntry
from warden.audit.store.sql import SqlLedgerStore, _to_row

_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_BUSY_DEADLINE = 5.0  # seconds, as the other connections' busy_timeout

_INSERT = (
    "INSERT INTO ledger (seq, entry_id, version, event_type, recorded_at, payload, prev_hash, hash)"
    " VALUES (:seq, :entry_id, :version, :event_type, :recorded_at, :payload, :prev_hash, :hash)"
)
_INSERT_INDEX = (
    "INSERT INTO ledger_index (seq, entry_id, recorded_at, event_type, person, chain_id, agent)"
    " VALUES (:seq, :entry_id, :recorded_at, :event_type, :person, :chain_id, :agent)"
)


class SqliteLedgerStore(SqlLedgerStore):
    """:class:`SqlLedgerStore` whose appends use a dedicated writer connection."""

    def __init__(self, engine: AsyncEngine, path: str) -> None:
        super().__init__(engine)
        self._path = path
        self._connection: sqlite3.Connection | None = None

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        if not rows:
            return
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + _BUSY_DEADLINE, 0.0005
        while not self._write(rows):
            # Another connection holds the write lock. Waiting inside SQLite would block the
            # event loop that connection needs to finish, so yield and try again.
            if loop.time() > deadline:
                raise LedgerUnavailable("the ledger store stayed locked by another writer")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)

    async def close(self) -> None:
        self._disconnect()

    def _write(self, rows: Sequence[LedgerEntry]) -> bool:
        """Write ``rows`` in one transaction; False when the write lock is taken."""
        try:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in _BUSY:
                    return False
                raise
            try:
                connection.executemany(_INSERT, [_to_row(row) for row in rows])
                connection.executemany(_INSERT_INDEX, index_rows(rows))
                _check_extends(connection, rows[0])
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return True
        except sqlite3.IntegrityError as exc:
            raise LedgerConflict(
                f"entries `{rows[0].seq}`..`{rows[-1].seq}` were not written: "
                "another writer holds those seqs or an entry id is already used"
            ) from exc
        except sqlite3.Error as exc:
            self._disconnect()
            raise LedgerUnavailable(f"the ledger store failed: {type(exc).__name__}") from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            # busy_timeout=0: never wait for a lock on the event loop (append_batch retries).
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=0"):
                connection.execute(f"PRAGMA {pragma}")
            self._connection = connection
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _check_extends(connection: sqlite3.Connection, first: LedgerEntry) -> None:
    if first.seq == 1:
        linked = first.prev_hash == GENESIS_HASH
    else:
        found = connection.execute("SELECT hash FROM ledger WHERE seq = ?", (first.seq - 1,))
        row = found.fetchone()
        linked = row is not None and row[0] == first.prev_hash
    if not linked:
        raise LedgerConflict(f"entry `{first.seq}` does not extend the stored ledger head")
