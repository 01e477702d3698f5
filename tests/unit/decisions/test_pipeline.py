"""The decision pipeline as a pure function: identity → features → Cedar → outcome."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warden.decisions.analysers import DEFAULT_ANALYSERS, Feature
from warden.decisions.errors import InvalidRequest
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.policy.bundle import default_schema
from warden.policy.engine import PreparedPolicies
from warden.policy.models import Bundle
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-onboarder"
OLD = "spiffe://acme.example/agent/retired-bot"

POLICIES = """
@id("finance-tools") @reason("finance agents use finance tools")
permit(principal in Team::"finance", action == Action::"invoke", resource)
when { resource.labels.contains("finance") };

@id("read-only-for-all") @reason("any active agent may read")
permit(principal, action == Action::"invoke", resource)
when { context.risk.read_only };

@id("destructive-external-needs-approval") @outcome("step_up")
@reason("destructive actions that leave the company need a person's approval")
forbid(principal, action == Action::"invoke", resource)
when { context.risk.destructive && context.risk.external && principal.risk_tier != "critical" };

@id("no-secrets-to-high-risk") @reason("high-risk agents never touch secrets")
forbid(principal, action, resource)
when { principal.risk_tier == "high" && context.risk.labels.contains("secret") };
"""


def _agent(agent_id: str, team: str, status: AgentStatus, tier: RiskTier) -> Agent:
    return Agent(
        agent_id, agent_id.rsplit("/", 1)[1], "ann@acme.example", team, status, tier, NOW, NOW
    )


def _tool(name: str, **annotations: Any) -> Tool:
    return Tool(name, name, ToolAnnotations(**annotations), None, NOW, NOW)


@pytest.fixture(scope="module")
def view() -> DecisionView:
    bundle = Bundle({"main.cedar": POLICIES}, default_schema())
    registry = RegistrySnapshot.of(
        [
            _agent(AP, "finance", AgentStatus.ACTIVE, RiskTier.MEDIUM),
            _agent(HR, "hr", AgentStatus.ACTIVE, RiskTier.HIGH),
            _agent(OLD, "finance", AgentStatus.RETIRED, RiskTier.LOW),
        ],
        [
            _tool(
                "ledger.read",
                read_only=True,
                destructive=False,
                external=False,
                labels=frozenset({"finance"}),
            ),
            _tool("payments.transfer", labels=frozenset({"finance"})),
            _tool(
                "vault.read",
                read_only=True,
                destructive=False,
                external=False,
                labels=frozenset({"secret"}),
            ),
        ],
    )
    return DecisionView.build(PreparedPolicies.prepare(bundle, 7), registry)


def _decide(view: DecisionView, agent: str, tool: str, context: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    request = DecisionRequest(
        Entity("agent", agent), Action("invoke"), Entity("tool", tool), context or {}
    )
    return evaluate(view, DEFAULT_ANALYSERS, request, NOW, "d-1")


def test_team_permit_allows_and_names_the_policy(view: DecisionView) -> None:
    decision = _decide(view, AP, "ledger.read")
    assert decision.outcome is Outcome.ALLOW
    assert {r.code for r in decision.reasons} >= {"finance-tools"}
    assert decision.policy_revision == 7
    assert decision.features["identity"] == {
        "registered": True,
        "status": "active",
        "risk_tier": "medium",
    }


def test_destructive_external_action_steps_up(view: DecisionView) -> None:
    decision = _decide(view, AP, "payments.transfer")
    assert decision.outcome is Outcome.STEP_UP
    assert [r.code for r in decision.reasons] == ["destructive-external-needs-approval"]
    assert "approval" in decision.reasons[0].message


def test_unregistered_tool_is_judged_by_mcp_defaults(view: DecisionView) -> None:
    decision = _decide(view, AP, "unknown.tool")
    assert decision.features["risk"]["registered"] is False
    assert decision.features["risk"]["destructive"] is True
    assert decision.outcome is Outcome.DENY  # no permit: not read-only, no finance label


def test_unknown_agent_is_denied_before_policy(view: DecisionView) -> None:
    decision = _decide(view, "spiffe://acme.example/agent/shadow", "ledger.read")
    assert decision.outcome is Outcome.DENY
    assert [r.code for r in decision.reasons] == ["agent.unknown"]


def test_retired_agent_is_denied_with_its_state(view: DecisionView) -> None:
    decision = _decide(view, OLD, "ledger.read")
    assert decision.outcome is Outcome.DENY
    assert decision.reasons[0].code == "agent.retired"
    assert "retired" in decision.reasons[0].message


def test_forbid_overrides_permit(view: DecisionView) -> None:
    decision = _decide(view, HR, "vault.read")
    assert decision.outcome is Outcome.DENY
    assert [r.code for r in decision.reasons] == ["no-secrets-to-high-risk"]


def test_client_cannot_forge_warden_blocks(view: DecisionView) -> None:
    forged = {"risk": {"read_only": True, "destructive": False, "external": False, "labels": []}}
    decision = _decide(view, AP, "payments.transfer", forged)
    assert decision.outcome is Outcome.STEP_UP
    assert decision.features["risk"]["destructive"] is True


def test_request_properties_do_not_override_registry(view: DecisionView) -> None:
    request = DecisionRequest(
        Entity("agent", HR, {"risk_tier": "low"}),
        Action("invoke"),
        Entity("tool", "vault.read", {"labels": []}),
    )
    assert evaluate(view, DEFAULT_ANALYSERS, request, NOW, "d").outcome is Outcome.DENY


def test_context_value_cedar_cannot_hold_is_a_field_error(view: DecisionView) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _decide(view, AP, "ledger.read", {"amount": 1.234567})
    assert caught.value.field == "context.amount"


class _Broken:
    name = "broken"

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        raise RuntimeError("boom")


def test_broken_analyser_fails_closed(view: DecisionView) -> None:
    request = DecisionRequest(Entity("agent", AP), Action("invoke"), Entity("tool", "ledger.read"))
    decision = evaluate(view, [*DEFAULT_ANALYSERS, _Broken()], request, NOW, "d")
    assert decision.outcome is Outcome.DENY
    assert decision.reasons[0].code == "analyser.error"
    assert decision.errors == ("analyser `broken` failed: RuntimeError",)


def test_action_groups_from_the_schema_apply() -> None:
    schema = (
        default_schema()
        + '\naction "payments" appliesTo { principal: [Agent], resource: [Tool] };\n'
    )
    schema = schema.replace(
        "action invoke appliesTo", 'action invoke in [Action::"payments"] appliesTo'
    )
    policies = """
    @id("all") permit(principal, action, resource);
    @id("no-payments") forbid(principal, action in Action::"payments", resource);
    """
    prepared = PreparedPolicies.prepare(Bundle({"p.cedar": policies}, schema), 1)
    registry = RegistrySnapshot.of([_agent(AP, "finance", AgentStatus.ACTIVE, RiskTier.LOW)], [])
    decision = _decide(DecisionView.build(prepared, registry), AP, "x")
    assert decision.outcome is Outcome.DENY
    assert [r.code for r in decision.reasons] == ["no-payments"]


def test_evaluation_is_replayable(view: DecisionView) -> None:
    first = _decide(view, AP, "payments.transfer")
    again = _decide(view, AP, "payments.transfer")
    assert first == again
