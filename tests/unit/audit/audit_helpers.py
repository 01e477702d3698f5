"""Helpers shared by the audit unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from warden.audit import EventType, Ledger, LedgerEntry, MemoryLedgerStore

T0 = datetime(2026, 11, 28, 14, 3, 11, tzinfo=UTC)


def decision(n: int, outcome: str = "deny") -> dict[str, object]:
    return {
        "decision_id": f"d-{n}",
        "outcome": outcome,
        "subject": {"type": "agent", "id": f"spiffe://acme/agent/a{n % 3}"},
        "action": {"name": "payments.refund"},
        "resource": {"type": "invoice", "id": f"INV-{n}"},
        "reasons": [{"code": "forbid-large-refund", "message": "m", "source": "policy"}],
        "errors": [],
        "policy_revision": 3,
        "amount": n * 1.5,
    }


async def build_ledger(n: int) -> list[LedgerEntry]:
    """``n`` committed entries (alternating allow/deny), one second apart."""
    store = MemoryLedgerStore()
    async with Ledger(store) as ledger:
        for i in range(1, n + 1):
            event = EventType.DECISION_DENY if i % 2 else EventType.DECISION_ALLOW
            await ledger.append(event, decision(i), recorded_at=T0 + timedelta(seconds=i))
    return await store.scan(0, n)


def store_of(entries: Sequence[LedgerEntry]) -> MemoryLedgerStore:
    return MemoryLedgerStore(entries)
