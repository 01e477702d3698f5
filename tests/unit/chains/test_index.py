"""The ledger index: which entries are findable by person and by chain, and by which agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warden.audit import EventType, Ledger
from warden.audit.index import index_rows
from warden.audit.store.memory import MemoryLedgerStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ALICE = "alice@acme.example"
ROOT = "spiffe://acme.example/agent/planner"
DELEGATE = "spiffe://acme.example/agent/booker"


def decision(
    outcome: str, *, person: str | None, chain: dict[str, Any] | None, subject: str = "agent"
) -> dict[str, Any]:
    features: dict[str, Any] = {"chain": chain} if chain is not None else {}
    return {
        "decision_id": "ignored",
        "outcome": outcome,
        "on_behalf_of": person,
        "subject": {"type": subject, "id": DELEGATE},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": "book_flight"},
        "reasons": [],
        "errors": [],
        "policy_revision": 1,
        "features": features,
    }


def chain_block(*, valid: bool = True) -> dict[str, Any]:
    return {"present": True, "valid": valid, "id": "chn_1" if valid else "", "person": ALICE}


async def _ledger(appends: list[tuple[EventType, dict[str, Any]]]) -> MemoryLedgerStore:
    store = MemoryLedgerStore()
    async with Ledger(store) as ledger:
        for n, (kind, payload) in enumerate(appends):
            await ledger.append(kind, payload, recorded_at=T0 + timedelta(minutes=n))
    return store


async def test_rows_name_the_person_the_chain_and_the_acting_agent() -> None:
    store = await _ledger(
        [
            (EventType.DECISION_ALLOW, decision("allow", person=ALICE, chain=chain_block())),
            (EventType.REGISTRY_TOOL_CREATED, {"id": "book_flight"}),
            (EventType.DECISION_DENY, decision("deny", person=None, chain=None)),
            (
                EventType.CHAIN_DELEGATED,
                {"chain_id": "chn_1", "person": ALICE, "from": ROOT, "to": DELEGATE},
            ),
            (EventType.CHAIN_REVOKED, {"chain_id": "chn_1", "hops": ["hop_1"], "actor": "ops"}),
        ]
    )
    rows = index_rows(await store.scan(0, 100))
    assert [(r["seq"], r["person"], r["chain_id"], r["agent"]) for r in rows] == [
        (1, ALICE, "chn_1", DELEGATE),
        (4, ALICE, "chn_1", DELEGATE),
        (5, None, "chn_1", None),
    ]
    assert rows[0]["recorded_at"] == "2026-11-02T09:00:00.000000Z"
    assert rows[1]["event_type"] == "chain:delegated"


async def test_an_invalid_chain_is_not_indexed_but_its_person_is() -> None:
    forged = decision("deny", person=ALICE, chain=chain_block(valid=False))
    forged["features"]["chain"]["id"] = "chn_forged"
    store = await _ledger([(EventType.DECISION_DENY, forged)])
    [row] = index_rows(await store.scan(0, 10))
    assert (row["person"], row["chain_id"]) == (ALICE, None)
    assert await store.by_chain("chn_forged") == []


async def test_a_non_agent_subject_and_an_oversized_person_stay_out_of_the_row() -> None:
    huge = "p" * 400 + "@acme.example"
    store = await _ledger(
        [
            (EventType.DECISION_ALLOW, decision("allow", person=ALICE, chain=None, subject="user")),
            (EventType.DECISION_ALLOW, decision("allow", person=huge, chain=None)),
        ]
    )
    rows = index_rows(await store.scan(0, 10))
    assert [(r["person"], r["agent"]) for r in rows] == [(ALICE, None)]


async def test_memory_store_answers_by_person_within_a_time_range_and_by_chain() -> None:
    store = await _ledger(
        [(EventType.DECISION_ALLOW, decision("allow", person=ALICE, chain=chain_block()))] * 5
    )
    window = await store.by_person(ALICE, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    assert [e.seq for e in window] == [2, 3, 4]
    assert [e.seq for e in await store.by_chain("chn_1", limit=2, after_seq=2)] == [3, 4]
    assert await store.by_person("bob@acme.example") == []
