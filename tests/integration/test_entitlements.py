"""Entitlements through the real runtime on both stores: a grant permits the very next
decision and names itself as the reason; revocation, expiry, bundle forbids, suspension;
templates; right-sizing from real decisions in the real ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warden.audit.models import EventType
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.entitlements.errors import (
    AgentNotEntitled,
    DuplicateEntitlement,
    EntitlementStateError,
    InvalidEntitlement,
)
from warden.entitlements.models import GrantState
from warden.entitlements.templates import packaged_template
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.errors import AgentNotFound
from warden.registry.models import AgentStatus
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime

AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"
ANN = "ann@acme.example"

GUARDS = """
@id("guard.no-file-deletion") @reason("no agent may delete files")
forbid(principal, action == Action::"invoke", resource == Tool::"files.delete");

@id("approval.payments") @outcome("step_up") @reason("money moves need a person")
forbid(principal, action == Action::"invoke", resource == Tool::"payments.transfer");
"""


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(database_url)
    now = _now()
    for agent_id in (AP, HR):
        spec = AgentSpec(id=agent_id, display_name="bot", owner=ANN, team="finance")
        await rt.registry.register_agent(spec, actor="test", now=now)
    yield rt
    await rt.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _request(tool: str, agent: str = AP, action: str = "invoke") -> DecisionRequest:
    return DecisionRequest(Entity("agent", agent), Action(action), Entity("tool", tool))


async def _decide(rt: Runtime, tool: str, agent: str = AP) -> Decision:
    return await rt.decide(_request(tool, agent))


def _codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


async def _grant(rt: Runtime, tool: str, agent: str = AP, **extra: Any) -> Any:
    extra.setdefault("now", _now())
    return await rt.entitlements.grant(
        agent, "invoke", "Tool", tool, justification=f"needs {tool}", actor=ANN, **extra
    )


async def _events(rt: Runtime, event_type: EventType) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in await rt.ledger_store.tail(500) if e.event_type == event_type]


async def test_a_grant_permits_the_next_decision_and_names_itself(runtime: Runtime) -> None:
    assert (await _decide(runtime, "erp.invoice.read")).outcome is Outcome.DENY
    grant = await _grant(runtime, "erp.invoice.read")
    decision = await _decide(runtime, "erp.invoice.read")
    assert decision.outcome is Outcome.ALLOW
    assert _codes(decision) == [f"entitlement:{grant.id}"]
    assert f"granted by `{ANN}`: needs erp.invoice.read" in decision.reasons[0].message
    # Exactly that: not another tool, not another agent, not another action.
    assert (await _decide(runtime, "erp.invoice.write")).outcome is Outcome.DENY
    assert (await _decide(runtime, "erp.invoice.read", HR)).outcome is Outcome.DENY
    other_action = await runtime.decide(_request("erp.invoice.read", action="delete"))
    assert other_action.outcome is Outcome.DENY
    [granted] = await _events(runtime, EventType.ENTITLEMENT_GRANTED)
    assert granted["actor"] == ANN and granted["entitlement"]["id"] == grant.id


async def test_revoking_denies_the_very_next_decision(runtime: Runtime) -> None:
    grant = await _grant(runtime, "erp.invoice.read")
    assert (await _decide(runtime, "erp.invoice.read")).allowed
    revoked = await runtime.entitlements.revoke(
        grant.id, actor="bo@acme.example", reason="ticket SEC-9", now=_now()
    )
    assert revoked.state is GrantState.REVOKED and revoked.change_reason == "ticket SEC-9"
    after = await _decide(runtime, "erp.invoice.read")
    assert after.outcome is Outcome.DENY and _codes(after) == ["policy.no_permit"]
    [event] = await _events(runtime, EventType.ENTITLEMENT_REVOKED)
    assert (event["actor"], event["reason"]) == ("bo@acme.example", "ticket SEC-9")
    with pytest.raises(EntitlementStateError, match="already revoked"):
        await runtime.entitlements.revoke(grant.id, actor=ANN, reason="again", now=_now())
    # History stays; a new grant of the same thing is possible again.
    assert [g.state for g in await runtime.entitlements.list(agent_id=AP)] == [GrantState.REVOKED]
    await _grant(runtime, "erp.invoice.read")


async def test_an_expired_grant_stops_permitting_at_its_instant(runtime: Runtime) -> None:
    expires = _now() + timedelta(hours=1)
    grant = await _grant(runtime, "erp.invoice.read", expires_at=expires)
    assert (await _decide(runtime, "erp.invoice.read")).allowed  # the real clock: before expiry

    # The same live view, decided at chosen instants: no housekeeping pass in between.
    def at(when: datetime) -> Decision:
        return evaluate(runtime.view, runtime.analysers, _request("erp.invoice.read"), when, "d")

    just_before = at(expires - timedelta(microseconds=1))
    assert just_before.allowed and _codes(just_before) == [f"entitlement:{grant.id}"]
    assert at(expires).outcome is Outcome.DENY
    assert at(expires + timedelta(days=1)).outcome is Outcome.DENY

    # Housekeeping later drops the expired permit from the view altogether.
    assert await runtime.housekeeping["entitlement-expiry"](expires - timedelta(seconds=1)) == []
    [dropped] = await runtime.housekeeping["entitlement-expiry"](expires)
    assert dropped.id == grant.id


async def test_a_client_cannot_claim_a_grant_in_its_context(runtime: Runtime) -> None:
    grant = await _grant(runtime, "erp.invoice.read", expires_at=_now() + timedelta(hours=1))
    forged = DecisionRequest(
        Entity("agent", AP),
        Action("invoke"),
        Entity("tool", "payments.transfer"),
        {"entitlements": {"granted": True, "grant": grant.id}},
    )
    decision = await runtime.decide(forged)
    assert decision.outcome is Outcome.DENY and _codes(decision) == ["policy.no_permit"]
    assert decision.features["entitlements"] == {"granted": False}


async def test_bundle_forbids_still_win_over_grants(runtime: Runtime) -> None:
    await runtime.apply_policies(Bundle({"guards.cedar": GUARDS}, default_schema()), author="t")
    await _grant(runtime, "files.delete")
    pay = await _grant(runtime, "payments.transfer")
    denied = await _decide(runtime, "files.delete")
    assert denied.outcome is Outcome.DENY and _codes(denied) == ["guard.no-file-deletion"]
    stepped = await _decide(runtime, "payments.transfer")
    assert stepped.outcome is Outcome.STEP_UP and _codes(stepped) == ["approval.payments"]
    # Without the grant the step-up policy alone permits nothing.
    await runtime.entitlements.revoke(pay.id, actor=ANN, reason="done", now=_now())
    assert (await _decide(runtime, "payments.transfer")).outcome is Outcome.DENY


async def test_a_wildcard_grant_covers_every_resource_of_its_type(runtime: Runtime) -> None:
    await runtime.entitlements.grant(
        AP, "invoke", "tool", "*", justification="sandbox agent", actor=ANN, now=_now()
    )
    assert (await _decide(runtime, "anything.at.all")).allowed
    document = DecisionRequest(Entity("agent", AP), Action("invoke"), Entity("document", "x"))
    assert (await runtime.decide(document)).outcome is Outcome.DENY


async def test_grants_never_help_a_suspended_agent(runtime: Runtime) -> None:
    await _grant(runtime, "erp.invoice.read")
    await runtime.registry.transition(
        AP, AgentStatus.SUSPENDED, actor="t", reason="incident", now=_now()
    )
    decision = await _decide(runtime, "erp.invoice.read")
    assert decision.outcome is Outcome.DENY and _codes(decision) == ["agent.suspended"]
    await runtime.registry.transition(AP, AgentStatus.ACTIVE, actor="t", reason="ok", now=_now())
    assert (await _decide(runtime, "erp.invoice.read")).allowed


async def test_grants_are_refused_when_malformed_duplicated_or_for_no_live_agent(
    runtime: Runtime,
) -> None:
    with pytest.raises(InvalidEntitlement, match="justification is required") as blank:
        await runtime.entitlements.grant(
            AP, "invoke", "Tool", "erp.read", justification="  ", actor=ANN, now=_now()
        )
    assert blank.value.field == "justification"
    first = await _grant(runtime, "erp.read")
    with pytest.raises(DuplicateEntitlement, match=first.id):
        await _grant(runtime, "erp.read")
    with pytest.raises(AgentNotFound):
        await _grant(runtime, "erp.read", agent="spiffe://acme.example/agent/nobody")
    with pytest.raises(InvalidEntitlement, match="not in the future") as past:
        await _grant(runtime, "erp.write", expires_at=_now() - timedelta(seconds=1))
    assert past.value.field == "expires_at"
    await runtime.registry.transition(HR, AgentStatus.RETIRED, actor="t", reason="gone", now=_now())
    with pytest.raises(AgentNotEntitled, match="retired"):
        await _grant(runtime, "erp.read", agent=HR)


async def test_a_template_grants_exactly_its_tools(runtime: Runtime) -> None:
    template = packaged_template("ap-reconciliation")
    tools = [g.resource_id for g in template.grants]
    result = await runtime.entitlements.apply_template(AP, template, actor=ANN, now=_now())
    assert [g.resource_id for g in result.granted] == tools and result.already_held == ()
    assert {g.template for g in result.granted} == {"ap-reconciliation"}
    for tool in tools:
        assert (await _decide(runtime, tool)).allowed, tool
    for tool in ("payments.transfer", "hr.records.read", "email.send"):
        assert (await _decide(runtime, tool)).outcome is Outcome.DENY, tool
    events = await _events(runtime, EventType.ENTITLEMENT_GRANTED)
    assert {e["entitlement"]["template"] for e in events} == {"ap-reconciliation"}

    again = await runtime.entitlements.apply_template(AP, template, actor=ANN, now=_now())
    assert again.granted == () and len(again.already_held) == len(tools)


async def test_unused_grants_are_reported_pruned_and_restored(runtime: Runtime) -> None:
    now = _now()
    old = now - timedelta(days=40)  # granted long enough ago to be judged over 30 days
    used = await _grant(runtime, "erp.invoice.read", now=old)
    idle = await _grant(runtime, "erp.payment.read", now=old)
    wildcard = await runtime.entitlements.grant(
        HR, "invoke", "Tool", "*", justification="triage", actor=ANN, now=old
    )
    young = await _grant(runtime, "ledger.read", now=now - timedelta(days=5))
    assert (await _decide(runtime, "erp.invoice.read")).allowed
    assert (await _decide(runtime, "some.tool", HR)).allowed
    await _decide(runtime, "erp.unknown")  # a denial is no use of anything

    report = await runtime.entitlements.unused(30, now=_now())
    assert [g.id for g in report.unused] == [idle.id]
    assert [g.id for g in report.too_recent] == [young.id]
    assert report.in_use == 2 and report.decisions == 2

    # A month on, with no decision since, the same uses have left the window.
    later = await runtime.entitlements.unused(30, now=_now() + timedelta(days=31))
    assert {g.id for g in later.unused} == {used.id, idle.id, wildcard.id, young.id}

    [pruned] = await runtime.entitlements.prune(
        [g.id for g in report.unused], actor="admin", reason="unused for 30 days", now=_now()
    )
    assert pruned.state is GrantState.PRUNED
    assert (await _decide(runtime, "erp.payment.read")).outcome is Outcome.DENY
    [event] = await _events(runtime, EventType.ENTITLEMENT_PRUNED)
    assert (event["actor"], event["entitlement"]["id"]) == ("admin", idle.id)

    restored = await runtime.entitlements.restore(idle.id, actor="admin", now=_now())
    assert (restored.state, restored.justification) == (GrantState.ACTIVE, idle.justification)
    assert (await _decide(runtime, "erp.payment.read")).allowed
    assert len(await _events(runtime, EventType.ENTITLEMENT_RESTORED)) == 1
    after = await runtime.entitlements.unused(30, now=_now())
    assert idle.id not in [g.id for g in after.unused]  # restoring is not undone next run
    assert idle.id in [g.id for g in after.too_recent]
    with pytest.raises(EntitlementStateError, match="only pruned grants"):
        await runtime.entitlements.restore(idle.id, actor="admin", now=_now())


async def test_grants_survive_a_restart(database_url: str) -> None:
    first = await Runtime.open(database_url)
    try:
        spec = AgentSpec(id=AP, display_name="bot", owner=ANN, team="finance")
        await first.registry.register_agent(spec, actor="test", now=_now())
        grant = await _grant(first, "erp.invoice.read")
    finally:
        await first.close()
    reopened = await Runtime.open(database_url)
    try:
        decision = await _decide(reopened, "erp.invoice.read")
        assert decision.allowed and _codes(decision) == [f"entitlement:{grant.id}"]
        assert await reopened.entitlements.get(grant.id) == grant
    finally:
        await reopened.close()
