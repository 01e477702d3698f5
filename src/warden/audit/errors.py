"""Errors of the audit ledger::

WardenError
└── AuditError
    ├── InvalidEntry          an append was malformed (bad entry id, naive timestamp)
    │   └── InvalidPayload    the payload is not a JSON object RFC 8785 can canonicalise
    ├── LedgerUnavailable     the entry was not committed; the caller must not act on it
    │   └── LedgerConflict    another writer extended the ledger first; nothing was written
    └── LedgerCorrupted       a stored row cannot even be read back as an entry
"""

from __future__ import annotations

from warden.errors import WardenError


class AuditError(WardenError):
    """Root of the audit ledger's errors."""

    code = "audit_error"


class InvalidEntry(AuditError):
    """An append was refused before it was queued: nothing was written."""

    code = "invalid_ledger_entry"


class InvalidPayload(InvalidEntry):
    """The payload cannot be canonicalised as RFC 8785 JSON."""

    code = "invalid_ledger_payload"


class LedgerUnavailable(AuditError):
    """The entry was not acknowledged: the store failed or the ledger is not running."""

    code = "ledger_unavailable"


class LedgerConflict(LedgerUnavailable):
    """Another writer appended first; the batch was rolled back instead of forking the chain."""

    code = "ledger_conflict"


class LedgerCorrupted(AuditError):
    """A stored row is unreadable (bad JSON, bad timestamp); ``seq`` names the row."""

    code = "ledger_corrupted"

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq
