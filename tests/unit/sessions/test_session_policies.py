"""The default session policies (examples/sessions/sessions.cedar) through the real pipeline:
the classic sequences are stopped, their benign versions stay allowed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from session_helpers import AGENT, START

from warden.decisions.analysers import DEFAULT_ANALYSERS
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.policy.bundle import default_schema
from warden.policy.engine import PreparedPolicies
from warden.policy.models import Bundle
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations
from warden.sessions import SessionAnalyser, SessionService
from warden.sessions.facts import FactsCache

POLICIES = (Path(__file__).parents[3] / "examples/sessions/sessions.cedar").read_text()
PERMIT_ALL = '@id("allow-all") @reason("test") permit (principal, action, resource);'


def _tool(name: str, **hints: Any) -> Tool:
    labels = frozenset(hints.pop("labels", ()))
    annotations = ToolAnnotations(
        read_only=hints.get("read_only", False),
        destructive=hints.get("destructive", False),
        external=hints.get("external", False),
        labels=labels,
    )
    return Tool(name, name, annotations, None, START, START)


TOOLS = [
    _tool("vault.read", read_only=True, labels={"secret"}),
    _tool("crm.read", read_only=True, labels={"pii", "customer_data"}),
    _tool("vendor.read", read_only=True, labels={"bank_details"}),
    _tool("vendor.update_bank", labels={"bank_details"}),
    _tool("account.reset_password", labels={"credentials"}),
    _tool("payments.transfer", labels={"payment", "finance"}),
    _tool("slack.post_external", external=True),
    _tool("files.delete", destructive=True),
    _tool("ledger.read", read_only=True, labels={"finance"}),
]


@pytest.fixture(scope="module")
def view() -> DecisionView:
    bundle = Bundle({"sessions.cedar": POLICIES, "allow.cedar": PERMIT_ALL}, default_schema())
    agent = Agent(AGENT, "ap-clerk", "ann@acme.example", "finance", AgentStatus.ACTIVE,
                  RiskTier.MEDIUM, START, START)  # fmt: skip
    return DecisionView.build(
        PreparedPolicies.prepare(bundle, 1), RegistrySnapshot.of([agent], TOOLS)
    )


class Agentic:
    """Decide actions one after another, recording each in its session as the runtime does."""

    def __init__(self, view: DecisionView, sessions: SessionService, mandate: str = "") -> None:
        self.view = view
        self.sessions = sessions
        self.mandate = mandate  # the verified mandate's id, as the mandate service would say
        self.facts = FactsCache(lambda token, now: mandate)
        self.analysers = (*DEFAULT_ANALYSERS, SessionAnalyser(sessions, self.facts))
        self.count = 0

    def act(self, tool: str, at: datetime, **arguments: Any) -> Decision:
        context: dict[str, Any] = {"arguments": arguments}
        if self.mandate:
            context["mandate"] = "token"
        request = DecisionRequest(
            Entity("agent", AGENT), Action("invoke"), Entity("tool", tool), context
        )
        self.count += 1
        decision = evaluate(self.view, self.analysers, request, at, f"d-{self.count}")
        facts = self.facts.of(request, self.view, at)
        assert facts is not None
        self.sessions.record(facts, decision.outcome)
        return decision


@pytest.fixture
def agent(view: DecisionView, sessions: SessionService) -> Agentic:
    return Agentic(view, sessions)


def _codes(decision: Decision) -> set[str]:
    return {r.code for r in decision.reasons}


def _minutes(n: float) -> datetime:
    return START + timedelta(minutes=n)


def test_secret_read_then_external_post_is_denied(agent: Agentic) -> None:
    assert agent.act("vault.read", _minutes(0), path="prod/db").outcome is Outcome.ALLOW
    post = agent.act("slack.post_external", _minutes(1), text="hello", channel="#general")
    assert post.outcome is Outcome.DENY
    assert "session.exfiltration" in _codes(post)
    assert "secret" in next(r.message for r in post.reasons if r.code == "session.exfiltration")


def test_customer_records_then_external_post_needs_approval(agent: Agentic) -> None:
    assert agent.act("crm.read", _minutes(0), customer="c-1").outcome is Outcome.ALLOW
    post = agent.act("slack.post_external", _minutes(5), text="summary")
    assert post.outcome is Outcome.STEP_UP
    assert _codes(post) == {"session.exfiltration.regulated"}


def test_external_post_before_reading_sensitive_data_is_allowed(agent: Agentic) -> None:
    assert agent.act("slack.post_external", _minutes(0), text="starting").outcome is Outcome.ALLOW
    assert agent.act("crm.read", _minutes(1), customer="c-1").outcome is Outcome.ALLOW
    assert agent.act("ledger.read", _minutes(2)).outcome is Outcome.ALLOW  # internal: fine


def test_another_mandates_secret_read_does_not_taint_this_session(
    view: DecisionView, sessions: SessionService
) -> None:
    other = Agentic(view, sessions, mandate="m-other")  # another mandate: another session
    assert other.act("vault.read", _minutes(0), path="prod").outcome is Outcome.ALLOW
    assert other.act("slack.post_external", _minutes(1), text="x").outcome is Outcome.DENY
    mine = Agentic(view, sessions)
    assert mine.act("slack.post_external", _minutes(1), text="hi").outcome is Outcome.ALLOW


def test_bank_detail_change_then_payment_is_denied(agent: Agentic) -> None:
    change = agent.act(
        "vendor.update_bank", _minutes(0), vendor="v-9", iban="DE89370400440532013000"
    )
    assert change.outcome is Outcome.ALLOW
    pay = agent.act("payments.transfer", _minutes(3), vendor="v-9", amount=48_000)
    assert pay.outcome is Outcome.DENY
    assert "session.payment_after_change" in _codes(pay)


def test_password_reset_then_payment_is_denied(agent: Agentic) -> None:
    agent.act("account.reset_password", _minutes(0), user="bob")
    pay = agent.act("payments.transfer", _minutes(30), amount=10)
    assert "session.payment_after_change" in _codes(pay)


def test_payment_after_only_reading_bank_details_is_allowed(agent: Agentic) -> None:
    assert agent.act("vendor.read", _minutes(0), vendor="v-9").outcome is Outcome.ALLOW
    assert agent.act("payments.transfer", _minutes(1), amount=100).outcome is Outcome.ALLOW


def test_sixth_deletion_in_ten_minutes_needs_approval_and_twenty_are_refused(
    agent: Agentic,
) -> None:
    outcomes = [agent.act("files.delete", _minutes(i), path=f"/f{i}").outcome for i in range(6)]
    assert outcomes == [Outcome.ALLOW] * 5 + [Outcome.STEP_UP]
    held = agent.act("files.delete", _minutes(6.5), path="/g")
    assert _codes(held) == {"session.mass_deletion.brake"}
    for i in range(13):  # held actions count: the 20th destructive action in 10 minutes
        agent.act("files.delete", _minutes(7 + i * 0.1), path=f"/h{i}")
    refused = agent.act("files.delete", _minutes(8.5), path="/last")
    assert refused.outcome is Outcome.DENY
    assert "session.mass_deletion" in _codes(refused)


def test_deletions_spread_over_an_hour_stay_allowed(agent: Agentic) -> None:
    outcomes = [
        agent.act("files.delete", _minutes(i * 12), path=f"/f{i}").outcome for i in range(8)
    ]
    assert outcomes == [Outcome.ALLOW] * 8


def test_the_same_call_five_times_in_a_row_stops_the_sixth(agent: Agentic) -> None:
    outcomes = [agent.act("ledger.read", _minutes(i), account="4000").outcome for i in range(6)]
    assert outcomes == [Outcome.ALLOW] * 5 + [Outcome.DENY]
    assert agent.act("ledger.read", _minutes(7), account="4000").outcome is Outcome.DENY
    # a different call breaks the loop
    assert agent.act("ledger.read", _minutes(8), account="4100").outcome is Outcome.ALLOW


def test_the_same_tool_with_different_arguments_is_not_a_loop(agent: Agentic) -> None:
    outcomes = [agent.act("ledger.read", _minutes(i), account=str(i)).outcome for i in range(10)]
    assert outcomes == [Outcome.ALLOW] * 10


def test_more_than_120_actions_in_a_minute_are_refused(agent: Agentic) -> None:
    at = [START + timedelta(seconds=i * 0.4) for i in range(121)]
    outcomes = [agent.act("ledger.read", t, account=str(i)).outcome for i, t in enumerate(at)]
    assert outcomes[:120] == [Outcome.ALLOW] * 120
    assert outcomes[120] is Outcome.DENY
    later = agent.act("ledger.read", START + timedelta(minutes=3), account="x")
    assert later.outcome is Outcome.ALLOW  # the minute has passed


async def test_a_suspended_session_denies_every_action_and_says_why(agent: Agentic) -> None:
    agent.act("ledger.read", _minutes(0), account="1")
    state = agent.sessions.get((AGENT, ""))
    assert state is not None
    await agent.sessions.suspend(state.id, actor="ann@acme.example", reason="odd transfers",
                                 now=_minutes(1))  # fmt: skip
    denied = agent.act("ledger.read", _minutes(2), account="2")
    assert denied.outcome is Outcome.DENY
    reason = next(r for r in denied.reasons if r.code == "session.suspended")
    assert state.id in reason.message
    assert "ann@acme.example" in reason.message and "odd transfers" in reason.message
    assert denied.features["session"]["suspended"] is True
