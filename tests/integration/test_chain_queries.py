"""Accountability queries against real SQLite and PostgreSQL: trace, tree, a person's
history, blast radius; and the ledger index written atomically with its entries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chain_ledger import (
    ALICE,
    BOB,
    BOOKER,
    CHAIN,
    MAILER,
    PAYER,
    PLANNER,
    T0,
    Story,
    ledger_store,
    write_story,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit import LedgerConflict
from warden.audit.models import LedgerEntry
from warden.audit.store.sqlite import SqliteLedgerStore
from warden.chains.queries import (
    UNKNOWN_PERSON,
    Accountability,
    BadTimeRange,
    UnknownChain,
    UnknownDecision,
)
from warden.store.schema import ledger_index


@pytest.fixture
async def story(engine: AsyncEngine, database_url: str) -> Story:
    return await write_story(engine, database_url)


@pytest.fixture
def queries(story: Story) -> Accountability:
    return Accountability(story.ledger, story.hops)


async def test_trace_walks_from_the_person_through_each_delegation_to_the_action(
    queries: Accountability, story: Story
) -> None:
    trace = (await queries.trace(story.decisions["pay_denied"])).to_dict()
    assert (trace["person"], trace["chain_id"], trace["depth"]) == (ALICE, CHAIN, 2)
    path = [(h["from"], h["to"], h["depth"]) for h in trace["hops"]]
    assert path == [(ALICE, PLANNER, 0), (PLANNER, BOOKER, 1), (BOOKER, PAYER, 2)]
    last = trace["hops"][-1]
    assert last["delegation"]["outcome"] == "delegated"
    assert last["delegation"]["details"]["limits"] == {"pay_invoice": {"amount": 500.0}}
    assert last["revoked_at"] is not None
    action = trace["action"]
    assert (action["agent"], action["tool"], action["outcome"]) == (PAYER, "pay_invoice", "deny")
    assert action["reasons"][0]["message"] == "amount `900` above the hop's 500"


async def test_trace_without_a_chain_links_the_mandates_person_to_the_agent(
    queries: Accountability, story: Story
) -> None:
    bob = (await queries.trace(story.decisions["bob"])).to_dict()
    assert (bob["person"], bob["chain_id"], bob["chain_valid"]) == (BOB, "", False)
    assert [(h["from"], h["mandate_id"]) for h in bob["hops"]] == [(BOB, "mnd_bob")]
    nobody = await queries.trace(story.decisions["nobody"])
    assert nobody.person == UNKNOWN_PERSON
    assert nobody.action["outcome"] == "deny"


async def test_trace_of_an_unknown_or_non_decision_entry_is_a_clear_error(
    queries: Accountability, story: Story
) -> None:
    with pytest.raises(UnknownDecision, match="no decision `nope`"):
        await queries.trace("nope")
    with pytest.raises(UnknownDecision):
        await queries.trace(story.decisions["refused"])


async def test_tree_nests_hops_under_their_parents_with_action_counts(
    queries: Accountability,
) -> None:
    tree = await queries.tree(CHAIN)
    assert (tree["person"], tree["hops"], tree["max_depth"]) == (ALICE, 4, 2)
    assert tree["actions"] == {"allow": 4, "step_up": 1, "deny": 1}
    [root] = tree["tree"]
    assert root["to"] == PLANNER and root["actions"]["allow"] == 1
    booker, mailer = root["children"]
    assert (booker["to"], mailer["to"]) == (BOOKER, MAILER)
    [payer] = booker["children"]
    assert payer["actions"] == {"allow": 0, "step_up": 1, "deny": 1}
    assert tree["revocations"][0]["hops"] == ["hop_2"]
    with pytest.raises(UnknownChain):
        await queries.tree("chn_missing")


async def test_a_persons_history_between_two_times_in_order(queries: Accountability) -> None:
    history = await queries.on_behalf_of(ALICE, T0, T0 + timedelta(minutes=8))
    kinds = [(a["kind"], a["agent"], a["outcome"]) for a in history["actions"]]
    delegated = [("delegation", agent, "delegated") for agent in (PLANNER, BOOKER, PAYER, MAILER)]
    assert kinds[:4] == delegated
    assert kinds[4:] == [("decision", PLANNER, "allow"), ("decision", BOOKER, "allow"),
                         ("decision", BOOKER, "allow"), ("decision", PAYER, "deny"),
                         ("decision", PAYER, "step_up")]  # fmt: skip
    assert history["actions"][7]["depth"] == 2 and history["actions"][7]["tool"] == "pay_invoice"
    everything = await queries.on_behalf_of(ALICE)
    assert [a["kind"] for a in everything["actions"]][-2:] == ["decision", "refusal"]
    assert all(a["agent"] != "spiffe://acme.example/agent/clerk" for a in everything["actions"])
    page = await queries.on_behalf_of(ALICE, limit=3)
    assert page["next_after"] == page["actions"][-1]["seq"]
    with pytest.raises(BadTimeRange, match="after"):
        await queries.on_behalf_of(ALICE, T0 + timedelta(hours=1), T0)


async def test_blast_radius_counts_what_allowed_actions_touched_and_refusals_apart(
    queries: Accountability,
) -> None:
    radius = await queries.blast_radius(CHAIN)
    tools = {r["tool"]: r for r in radius["resources"]}
    assert set(tools) == {"book_flight", "search_flights", "send_email"}
    assert tools["book_flight"]["allowed"] == 2
    assert tools["book_flight"]["destinations"] == ["airline.example"]
    assert radius["labels"] == ["pii"]
    assert radius["destinations"] == ["airline.example", "mail.example"]
    assert radius["denied"] == {"total": 1, "by_tool": {"pay_invoice": 1}}
    assert radius["held"] == {"total": 1, "by_tool": {"pay_invoice": 1}}
    assert "pay_invoice" not in tools
    with pytest.raises(UnknownChain, match="chn_missing"):
        await queries.blast_radius("chn_missing")


async def test_a_refused_batch_leaves_no_index_rows(
    engine: AsyncEngine, database_url: str, story: Story
) -> None:
    async def indexed() -> int:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(ledger_index))).scalar_one()
            )

    before = await indexed()
    assert before == 13  # 4 delegations, 6 chain decisions, refusal, revocation, bob
    [last] = await story.ledger.tail(1)
    booked = await story.ledger.get(story.decisions["book0"])
    assert booked is not None  # indexed by person and chain, were it written
    forged = LedgerEntry(
        last.seq + 1, "forged", 1, booked.event_type, T0, booked.payload, "f" * 64, "0"
    )
    store = ledger_store(engine, database_url)
    with pytest.raises(LedgerConflict):
        await store.append_batch([forged])
    if isinstance(store, SqliteLedgerStore):
        await store.close()
    assert await indexed() == before
    assert [e.entry_id for e in await story.ledger.by_chain(CHAIN, after_seq=last.seq)] == []
