"""Baselines as an administrator and the runtime see them: warm-up, cold start from a purpose
profile, freeze, reset, bounded memory, and the drift policies through the real pipeline."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from drift_helpers import CLERK, MONDAY, Clerk, ListSink, Replay, facts
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.behavior import BaselineNotFound, BehaviorService, DriftAnalyser
from warden.behavior.baseline import (
    HOURS,
    MAX_ARGUMENTS,
    MAX_DESTINATIONS,
    MAX_RECIPIENTS,
    MAX_TOOLS,
    MAX_TRANSITIONS,
)
from warden.decisions.analysers import DEFAULT_ANALYSERS
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.policy.bundle import default_schema
from warden.policy.engine import PreparedPolicies
from warden.policy.models import Bundle
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations
from warden.sessions import SessionService
from warden.sessions.facts import ActionFacts, FactsCache
from warden.store.db import open_engine, parse_database_url

NEWCOMER = "spiffe://acme.example/agent/ap-clerk-2"
POLICIES = (Path(__file__).parents[3] / "examples/drift/drift.cedar").read_text()
PERMIT_ALL = '@id("allow-all") @reason("test") permit (principal, action, resource);'


@pytest.fixture
def audit() -> ListSink:
    return ListSink()


@pytest.fixture
def service(audit: ListSink) -> BehaviorService:
    return BehaviorService(None, audit)


def _learn(service: BehaviorService, sessions: int, *, days: int, agent: str = CLERK) -> None:
    """``sessions`` of the clerk's sessions spread evenly over ``days``."""
    clerk, replay = Clerk(agent=agent), Replay(service)
    step = timedelta(days=days) / sessions
    for n in range(sessions):
        replay.new_session(agent)
        for action in clerk.session(MONDAY + timedelta(hours=9) + n * step):
            replay.decide(action)


def test_a_baseline_is_not_judged_before_a_quarter_of_its_warm_up(service: BehaviorService):
    _learn(service, 3, days=1)  # a few dozen actions in a day: too little to judge by
    result = service.score(facts("export_table", MONDAY + timedelta(days=1)), None, None)
    assert (result.score, result.warm, result.basis, result.signals) == (0, False, "none", ())
    assert result.explanation.startswith("no warm baseline yet: ")
    assert re.search(r"[\d,]+ of 200 actions over 0\.\d of 3 days$", result.explanation)


def test_while_warming_up_its_signals_are_weighed_by_how_much_it_holds(
    service: BehaviorService,
):
    _learn(service, 40, days=2)  # about 400 actions, but in 2 of the 3 days
    baseline = service.baseline(CLERK)
    assert baseline is not None and baseline.actions >= 200
    held = baseline.history() / timedelta(days=3)
    result = service.score(facts("export_table", MONDAY + timedelta(days=2)), None, None)
    assert (result.warm, result.basis) == (False, "agent")
    [novel] = [s for s in result.signals if s.name == "novel_tool"]
    assert 0.7 * held * 0.99 <= novel.strength < 0.7  # weaker than once warm
    assert f"weighed at {held:.0%}" in result.explanation


def test_a_baseline_is_warm_after_enough_actions_over_enough_days(service: BehaviorService):
    _learn(service, 3, days=4)  # four days, a few dozen actions: not yet
    assert not service.score(facts("export_table", MONDAY + timedelta(days=5)), None, None).warm
    _learn(service, 30, days=5)
    result = service.score(facts("export_table", MONDAY + timedelta(days=5)), None, None)
    assert (result.warm, result.basis) == (True, "agent")
    assert result.score >= 0.6


def test_a_new_agent_is_judged_against_its_purpose_profile(service: BehaviorService):
    _learn_profile(service, "accounts-payable", CLERK)
    service.learn(facts("read_invoice", MONDAY + timedelta(days=8), agent=NEWCOMER), None,
                  "accounts-payable")  # fmt: skip
    later = MONDAY + timedelta(days=8, hours=10)
    novel = service.score(facts("export_table", later, agent=NEWCOMER), None, "accounts-payable")
    assert (novel.basis, novel.warm) == ("profile", True)
    assert novel.score >= 0.6
    assert "first use of `export_table` by agents under `accounts-payable`" in novel.explanation
    usual = service.score(facts("read_invoice", later, agent=NEWCOMER), None, "accounts-payable")
    assert usual.score == 0
    alone = service.score(facts("export_table", later, agent=NEWCOMER), None, None)
    assert alone.basis == "none"  # no profile: nothing to compare with


def _learn_profile(service: BehaviorService, profile: str, agent: str) -> None:
    clerk, replay = Clerk(agent=agent), Replay(service, {agent: profile})
    replay.sessions_of(clerk.days(0, 7))


def test_an_agents_own_warm_baseline_wins_over_its_profile(service: BehaviorService):
    _learn_profile(service, "accounts-payable", CLERK)
    result = service.score(facts("read_invoice", MONDAY + timedelta(days=8)), None, "x")
    assert result.basis == "agent"


async def test_a_frozen_baseline_stops_learning_but_still_judges(
    service: BehaviorService, audit: ListSink
):
    _learn(service, 30, days=5)
    baseline = service.baseline(CLERK)
    assert baseline is not None
    before = baseline.actions
    await service.freeze(CLERK, actor="ann", now=MONDAY, reason="incident 42")
    _learn(service, 5, days=1)
    assert baseline.actions == before
    assert service.show(CLERK)["frozen"] is True
    at = MONDAY + timedelta(days=6, hours=10)
    assert service.score(facts("export_table", at), None, None).score >= 0.6
    await service.unfreeze(CLERK, actor="ann", now=MONDAY)
    _learn(service, 5, days=1)
    assert baseline.actions > before
    assert [e for e, _ in audit.events] == ["baseline:frozen", "baseline:unfrozen"]
    assert audit.events[0][1] == {
        "agent": CLERK, "actions": before, "actor": "ann", "reason": "incident 42"
    }  # fmt: skip


async def test_reset_forgets_everything_and_is_audited(service: BehaviorService, audit: ListSink):
    _learn(service, 30, days=5)
    await service.freeze(CLERK, actor="ann", now=MONDAY)
    await service.reset(CLERK, actor="bob", now=MONDAY, reason="new job")
    assert service.baseline(CLERK) is None
    at = MONDAY + timedelta(days=6, hours=10)
    assert service.score(facts("export_table", at), None, None).basis == "none"
    assert audit.events[-1][0] == "baseline:reset"
    assert audit.events[-1][1]["actor"] == "bob"
    service.learn(facts("read_invoice", at), None, None)  # learns again, from nothing
    baseline = service.baseline(CLERK)
    assert baseline is not None and (baseline.actions, baseline.frozen) == (1, False)


async def test_an_unknown_agent_has_no_baseline(service: BehaviorService, audit: ListSink):
    with pytest.raises(BaselineNotFound, match="no baseline learned for agent `nobody`"):
        await service.freeze("nobody", actor="ann", now=MONDAY)
    with pytest.raises(BaselineNotFound):
        await service.reset("nobody", actor="ann", now=MONDAY)
    with pytest.raises(BaselineNotFound):
        service.show("nobody")
    assert audit.events == []


def test_show_gives_shares_ranges_and_domains_never_addresses(service: BehaviorService):
    _learn(service, 30, days=5)
    shown = service.show(CLERK)
    assert shown["warm"] is True and shown["actions"] > 200 and shown["days"] >= 4.5
    top = shown["tools"][0]
    assert top["tool"] == "read_invoice" and 0.3 < top["share"] < 0.5
    assert shown["transitions"][0]["to"] in {"read_invoice", "match_po"}
    assert {t["from"] for t in shown["transitions"]} >= {None, "read_invoice"}
    assert shown["hours_active"] == sum(1 for h in shown["hours"] if h) > 0
    assert 1 <= shown["destinations"]["known"] <= 12
    amount = next(a for a in shown["arguments"] if a["argument"] == "amount")
    assert amount["min"] < amount["typical"] < amount["max"]
    assert "@" not in repr(shown)  # domains only, never a recipient's address


def test_memory_stays_within_its_caps_however_long_the_history(service: BehaviorService):
    rng = random.Random(3)
    start = MONDAY
    previous: str | None = None
    for n in range(10_000):
        tool = f"tool_{rng.randrange(400)}"
        domain = f"d{rng.randrange(10**6)}.example"
        action = facts(
            tool,
            start + timedelta(minutes=n),
            numbers=tuple((f"arg{k}", rng.random() * 10**k) for k in range(4)),
            destinations=(domain,),
            recipients=(f"x@{domain}",),
            chain_depth=rng.randrange(40),
        )
        service.learn(action, _Previous(previous), None)
        previous = tool
    b = service.baseline(CLERK)
    assert b is not None and b.actions == 10_000
    assert len(b.tools) == MAX_TOOLS
    assert len(b.transitions) == MAX_TRANSITIONS
    assert len(b.arguments) == MAX_ARGUMENTS
    assert len(b.destinations) == MAX_DESTINATIONS
    assert len(b.recipients) == MAX_RECIPIENTS
    assert b.contacts == sum(b.destinations.values())
    assert b.singletons == sum(1 for c in b.destinations.values() if c == 1)
    assert len(b.hours) == HOURS and len(b.depths) == 17 and len(b.rates) == 65
    assert b.max_depth == 39
    assert len(b.leaving) <= MAX_TOOLS + 1


class _Previous:
    """A session that only knows its previous tool (for the cap test's random walk)."""

    def __init__(self, tool: str | None) -> None:
        self.previous_tool = tool
        self.actions = 1
        self.drift = None

    def count(self, window: str, now: datetime) -> int:
        return 0


# -- the default drift policies through the real pipeline ----------------------------------------

TOOLS = [
    Tool(name, name, ToolAnnotations(read_only=name.startswith("read"),
                                     external=name == "send_email"), None, MONDAY, MONDAY)
    for name in ("read_invoice", "match_po", "approve_invoice", "pay_invoice", "flag_invoice",
                 "search_vendor", "send_email", "export_table", "dump_db", "list_users")
]  # fmt: skip


@pytest.fixture
def view() -> DecisionView:
    bundle = Bundle({"drift.cedar": POLICIES, "allow.cedar": PERMIT_ALL}, default_schema())
    agent = Agent(CLERK, "ap-clerk", "ann@acme.example", "finance", AgentStatus.ACTIVE,
                  RiskTier.MEDIUM, MONDAY, MONDAY)  # fmt: skip
    registry = RegistrySnapshot.of([agent], TOOLS)
    return DecisionView.build(PreparedPolicies.prepare(bundle, 1), registry)


@pytest.fixture
async def sessions(tmp_path: Path, audit: ListSink) -> AsyncIterator[SessionService]:
    engine: AsyncEngine = open_engine(parse_database_url(f"sqlite:///{tmp_path / 'w.db'}"))
    yield SessionService(engine, audit)  # record and get are in memory
    await engine.dispose()


class Runtime:
    """What the runtime does per action: analyse, decide, then learn and mark the session."""

    def __init__(self, view: DecisionView, sessions: SessionService, behavior: BehaviorService):
        self.view, self.sessions, self.behavior = view, sessions, behavior
        self.facts = FactsCache(lambda token, now: "")
        self.drift = DriftAnalyser(behavior, sessions, self.facts, lambda f: None)
        self.analysers = (*DEFAULT_ANALYSERS, self.drift)
        self.count = 0

    def act(self, tool: str, at: datetime, **arguments: Any) -> Decision:
        request = DecisionRequest(
            Entity("agent", CLERK), Action("invoke"), Entity("tool", tool),
            {"arguments": arguments},
        )  # fmt: skip
        self.count += 1
        decision = evaluate(self.view, self.analysers, request, at, f"d-{self.count}")
        facts = self.facts.of(request, self.view, at)
        assert facts is not None
        result = self.drift.latest(facts)
        assert result is not None
        session = self.sessions.get(facts.session_key)
        if decision.outcome is Outcome.ALLOW:
            self.behavior.learn(facts, session, None)
        self.sessions.record(facts, decision.outcome, drift=self.behavior.mark(result))
        return decision

    def replay(self, actions: list[ActionFacts]) -> None:
        for a in actions:
            arguments: dict[str, Any] = dict(a.numbers)
            if a.recipients:
                arguments["to"] = a.recipients[0]
            self.act(a.tool, a.at, **arguments)


def _codes(decision: Decision) -> set[str]:
    return {r.code for r in decision.reasons}


def test_drift_policies_step_up_then_suspend(
    view: DecisionView, sessions: SessionService, service: BehaviorService
):
    runtime = Runtime(view, sessions, service)
    clerk = Clerk()
    for actions in clerk.days(0, 7, per_day=6):
        runtime.replay(actions)
    monday = MONDAY + timedelta(days=7, hours=10)
    assert runtime.act("read_invoice", monday).outcome is Outcome.ALLOW
    first = runtime.act("export_table", monday + timedelta(minutes=1))
    assert first.outcome is Outcome.STEP_UP
    assert _codes(first) == {"drift.high"}
    runtime.act("dump_db", monday + timedelta(minutes=2))
    third = runtime.act("list_users", monday + timedelta(minutes=3))
    assert third.outcome is Outcome.DENY
    assert "drift.extreme" in _codes(third)  # sustained: the runtime suspends the session
    assert view.policies.responses(third.reasons) >= {"suspend_session"}


def test_the_analyser_says_nothing_of_a_subject_that_is_not_an_agent(
    view: DecisionView, sessions: SessionService, service: BehaviorService
):
    runtime = Runtime(view, sessions, service)
    person = DecisionRequest(
        Entity("user", "ann@acme.example"), Action("invoke"), Entity("tool", "read_invoice"), {}
    )
    assert runtime.drift.analyse(person, view, MONDAY) is None
    agent = DecisionRequest(Entity("agent", CLERK), Action("invoke"),
                            Entity("tool", "read_invoice"), {})  # fmt: skip
    feature = runtime.drift.analyse(agent, view, MONDAY)
    assert feature is not None and feature.block == "drift" and feature.findings == ()
    assert feature.value["baseline"] == "none" and feature.value["score"] == 0
