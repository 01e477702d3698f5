"""Warden's tamper-evident audit ledger.

Every decision and admin change is appended as a hash-chained :class:`LedgerEntry`
(:mod:`~warden.audit.chain` is the wire contract); :class:`Ledger` appends with group
commit, :func:`verify` proves the chain untouched or names the first tampered entry.
"""

from __future__ import annotations

from warden.audit.chain import (
    GENESIS_HASH,
    canonical_payload,
    entry_hash,
    format_timestamp,
    parse_timestamp,
)
from warden.audit.errors import (
    AuditError,
    InvalidEntry,
    InvalidPayload,
    LedgerConflict,
    LedgerCorrupted,
    LedgerUnavailable,
)
from warden.audit.format import format_entry
from warden.audit.ledger import Ledger, new_entry_id
from warden.audit.models import (
    DECISION_EVENTS,
    LEDGER_VERSION,
    EventType,
    LedgerEntry,
    Problem,
    VerifyReport,
)
from warden.audit.store import LedgerStore
from warden.audit.store.memory import MemoryLedgerStore
from warden.audit.store.sql import SqlLedgerStore
from warden.audit.verify import verify

__all__ = [
    "DECISION_EVENTS",
    "GENESIS_HASH",
    "LEDGER_VERSION",
    "AuditError",
    "EventType",
    "InvalidEntry",
    "InvalidPayload",
    "Ledger",
    "LedgerConflict",
    "LedgerCorrupted",
    "LedgerEntry",
    "LedgerStore",
    "LedgerUnavailable",
    "MemoryLedgerStore",
    "Problem",
    "SqlLedgerStore",
    "VerifyReport",
    "canonical_payload",
    "entry_hash",
    "format_entry",
    "format_timestamp",
    "new_entry_id",
    "parse_timestamp",
    "verify",
]
