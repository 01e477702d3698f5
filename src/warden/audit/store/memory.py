"""An in-memory :class:`~warden.audit.store.LedgerStore`: for tests, lost on exit."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from warden.audit.chain import GENESIS_HASH, format_timestamp
from warden.audit.errors import LedgerConflict
from warden.audit.index import index_rows
from warden.audit.models import LedgerEntry


class MemoryLedgerStore:
    """Entries in a list sorted by ``seq``.

    ``entries`` seeds the store as given, without any check, so a test can hand it a
    tampered ledger.
    """

    def __init__(self, entries: Iterable[LedgerEntry] = ()) -> None:
        self._entries = sorted(entries, key=lambda entry: entry.seq)
        self._by_id = {entry.entry_id: entry for entry in self._entries}
        self._index = index_rows(self._entries)

    async def head(self) -> tuple[int, str] | None:
        if not self._entries:
            return None
        last = self._entries[-1]
        return last.seq, last.hash

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        if not rows:
            return
        head = await self.head()
        expected_seq, expected_prev = (1, GENESIS_HASH) if head is None else (head[0] + 1, head[1])
        if rows[0].seq != expected_seq or rows[0].prev_hash != expected_prev:
            raise LedgerConflict(f"entry `{rows[0].seq}` does not extend the ledger head")
        if any(row.entry_id in self._by_id for row in rows):
            raise LedgerConflict("an entry id in the batch is already in the ledger")
        self._entries.extend(rows)
        self._by_id.update((row.entry_id, row) for row in rows)
        self._index.extend(index_rows(rows))

    async def scan(self, after_seq: int, limit: int) -> list[LedgerEntry]:
        start = bisect.bisect_right(self._entries, after_seq, key=lambda entry: entry.seq)
        return self._entries[start : start + max(limit, 0)]

    async def tail(self, n: int) -> list[LedgerEntry]:
        return self._entries[-n:] if n > 0 else []

    async def get(self, entry_id: str) -> LedgerEntry | None:
        return self._by_id.get(entry_id)

    async def count(self) -> int:
        return len(self._entries)

    async def by_person(
        self,
        person: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        after_seq: int = 0,
    ) -> list[LedgerEntry]:
        low = format_timestamp(start) if start is not None else ""
        high = format_timestamp(end) if end is not None else "~"
        return self._indexed(
            lambda r: r["person"] == person and low <= r["recorded_at"] <= high, limit, after_seq
        )

    async def by_chain(
        self, chain_id: str, limit: int = 100, after_seq: int = 0
    ) -> list[LedgerEntry]:
        return self._indexed(lambda r: r["chain_id"] == chain_id, limit, after_seq)

    def _indexed(
        self, wanted: Callable[[Mapping[str, Any]], bool], limit: int, after_seq: int
    ) -> list[LedgerEntry]:
        seqs = [r["seq"] for r in self._index if r["seq"] > after_seq and wanted(r)]
        return [self._at(seq) for seq in seqs[: max(limit, 0)]]

    def _at(self, seq: int) -> LedgerEntry:
        return self._entries[bisect.bisect_left(self._entries, seq, key=lambda entry: entry.seq)]
