"""A small delegation story written the way Warden records it, for the accountability tests:
real hop rows (SqlChainStore.insert), real ledger entries (Ledger.append) shaped per the
contract in warden.chains.models.

Alice's chain ``chn_alice``::

    alice ─hop0→ planner ─hop1→ booker ─hop2→ payer (hop2 revoked)
                         └hop3→ mailer

Bob acts through his mandate without a chain; one decision names no person at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit import EventType, Ledger, SqlLedgerStore
from warden.audit.store.sqlite import SqliteLedgerStore
from warden.chains.models import Hop, hop_digest
from warden.chains.service import delegated_event
from warden.chains.store import SqlChainStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ALICE, BOB = "alice@acme.example", "bob@acme.example"
AGENT = "spiffe://acme.example/agent/"
PLANNER, BOOKER, PAYER, MAILER = (AGENT + n for n in ("planner", "booker", "payer", "mailer"))
CHAIN = "chn_alice"


@dataclass
class Story:
    ledger: SqlLedgerStore
    hops: SqlChainStore
    decisions: dict[str, str]  # name → decision id


def _hop(n: int, parent: Hop | None, to: str, tools: Sequence[str] | None) -> Hop:
    depth = 0 if parent is None else parent.depth + 1
    base = Hop(
        id=f"hop_{n}",
        chain_id=CHAIN,
        parent_id=parent.id if parent else None,
        depth=depth,
        person=ALICE,
        from_party=parent.to_agent if parent else ALICE,
        to_agent=to,
        mandate_id=f"mnd_{n}",
        root_mandate_id="mnd_0",
        exchange_jti=None,
        task=f"task {n}",
        tools=tuple(tools) if tools is not None else None,
        limits={"pay_invoice": {"amount": 500.0}} if n == 2 else {},
        digest="",
        created_at=T0,
        expires_at=T0 + timedelta(hours=8),
    )
    return replace(base, digest=hop_digest(None, base.body()))


def decision(
    outcome: str,
    agent: str,
    tool: str,
    *,
    person: str | None,
    hop: Hop | None = None,
    path: Sequence[Hop] = (),
    labels: Sequence[str] = (),
    destinations: Sequence[str] = (),
    reason: str = "",
) -> dict[str, Any]:
    features: dict[str, Any] = {"mandate": {"present": True, "valid": True, "id": "mnd_bob"}}
    if hop is not None:
        features["chain"] = {
            "present": True,
            "valid": True,
            "id": hop.chain_id,
            "hop": hop.id,
            "depth": hop.depth,
            "person": hop.person,
            "root_mandate": hop.root_mandate_id,
            "mandate": hop.mandate_id,
            "purpose": "travel",
            "agents": [h.to_agent for h in path],
            "path": [h.id for h in path],
            "labels": list(labels),
            "destinations": list(destinations),
        }
    reasons = [{"code": f"test.{outcome}", "message": reason or outcome, "outcome": outcome}]
    return {
        "decision_id": "",
        "outcome": outcome,
        "on_behalf_of": person,
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": tool},
        "reasons": reasons,
        "errors": [],
        "policy_revision": 1,
        "features": features,
        "context_digest": "0" * 64,
    }


def ledger_store(engine: AsyncEngine, database_url: str) -> SqlLedgerStore:
    """The store Warden itself would use: the SQLite writer on SQLite, else plain SQL."""
    if database_url.startswith("sqlite"):
        return SqliteLedgerStore(engine, database_url.removeprefix("sqlite:///"))
    return SqlLedgerStore(engine)


async def write_story(engine: AsyncEngine, database_url: str) -> Story:
    store, hops = ledger_store(engine, database_url), SqlChainStore(engine)
    h0 = _hop(0, None, PLANNER, None)
    h1 = _hop(1, h0, BOOKER, ["book_flight", "pay_invoice"])
    h2 = _hop(2, h1, PAYER, ["pay_invoice"])
    h3 = _hop(3, h0, MAILER, ["send_email"])
    ids: dict[str, str] = {}
    clock = iter(T0 + timedelta(minutes=m) for m in range(100))
    async with Ledger(store) as ledger:

        async def record(kind: EventType, payload: dict[str, Any], name: str = "") -> str:
            entry_id = f"{name or kind.value.replace(':', '-')}-{len(ids)}"
            if kind.value.startswith("decision"):
                payload = {**payload, "decision_id": entry_id}
            await ledger.append(kind, payload, entry_id=entry_id, recorded_at=next(clock))
            ids[name or entry_id] = entry_id
            return entry_id

        for hop in (h0, h1, h2, h3):
            await hops.insert([hop])
            entry = await record(EventType.CHAIN_DELEGATED, delegated_event(hop))
            await hops.set_entry(hop.id, entry)
        allow, deny, hold = (EventType.DECISION_ALLOW, EventType.DECISION_DENY,
                             EventType.DECISION_STEP_UP)  # fmt: skip
        await record(allow, decision("allow", PLANNER, "search_flights", person=ALICE, hop=h0,
                                     path=[h0]), "search")  # fmt: skip
        for n in range(2):
            await record(allow, decision("allow", BOOKER, "book_flight", person=ALICE, hop=h1,
                                         path=[h0, h1], labels=["pii"],
                                         destinations=["airline.example"]), f"book{n}")  # fmt: skip
        await record(deny, decision("deny", PAYER, "pay_invoice", person=ALICE, hop=h2,
                                    path=[h0, h1, h2], reason="amount `900` above the hop's 500"),
                     "pay_denied")  # fmt: skip
        await record(hold, decision("step_up", PAYER, "pay_invoice", person=ALICE, hop=h2,
                                    path=[h0, h1, h2]), "pay_held")  # fmt: skip
        await record(allow, decision("allow", MAILER, "send_email", person=ALICE, hop=h3,
                                     path=[h0, h3], labels=["pii"],
                                     destinations=["mail.example"]), "mail")  # fmt: skip
        await record(EventType.CHAIN_REFUSED, {"chain_id": CHAIN, "from": PAYER, "to": MAILER,
                     "code": "widening", "message": "wants tools its parent lacks",
                     "person": ALICE}, "refused")  # fmt: skip
        await record(EventType.CHAIN_REVOKED, {"chain_id": CHAIN, "hops": ["hop_2"],
                     "actor": "ops", "reason": "card misuse"}, "revoked")  # fmt: skip
        await record(allow, decision("allow", AGENT + "clerk", "read_invoice", person=BOB),
                     "bob")  # fmt: skip
        await record(deny, decision("deny", AGENT + "stray", "read_invoice", person=None),
                     "nobody")  # fmt: skip
    await hops.revoke(["hop_2"], T0 + timedelta(minutes=30))
    if isinstance(store, SqliteLedgerStore):
        await store.close()
    return Story(SqlLedgerStore(engine), hops, ids)
