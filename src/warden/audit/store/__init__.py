"""Where ledger entries live: the :class:`LedgerStore` protocol and its backends.

* :mod:`warden.audit.store.sql` — SQLite or PostgreSQL through SQLAlchemy Core
* :mod:`warden.audit.store.memory` — a list, for tests and throwaway runs
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from warden.audit.models import LedgerEntry


class LedgerStore(Protocol):
    """Durable, append-only storage of ledger entries, keyed by ``seq``.

    A store never computes hashes; it keeps what it is given. It must refuse (raise
    :class:`~warden.audit.errors.LedgerConflict`, write nothing) a batch whose first ``seq``
    is already taken or whose first ``prev_hash`` is not the hash of the entry before it,
    so two writers can never fork the chain.
    """

    async def head(self) -> tuple[int, str] | None:
        """The last entry's ``(seq, hash)``, or ``None`` for an empty ledger."""
        ...

    async def append_batch(self, rows: Sequence[LedgerEntry]) -> None:
        """Write ``rows`` (consecutive seqs) in one durable transaction: all or nothing."""
        ...

    async def scan(self, after_seq: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` entries with ``seq > after_seq``, ascending by ``seq``."""
        ...

    async def tail(self, n: int) -> list[LedgerEntry]:
        """The last ``n`` entries, ascending by ``seq``."""
        ...

    async def get(self, entry_id: str) -> LedgerEntry | None:
        """The entry with this ``entry_id``, if any."""
        ...

    async def count(self) -> int:
        """How many entries are stored."""
        ...


__all__ = ["LedgerStore"]
