"""Grants in the decision, pure (no store): the entitlement permit is what its Cedar text says,
a grant permits exactly its request and names itself, forbids still win, expiry is exact, and
a client cannot claim a grant through its context."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import cedarpy

from warden.decisions.analysers import DEFAULT_ANALYSERS
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.entitlements.cedar import (
    _POLICY_EST,
    POLICY_TEXT,
    EntitledPolicies,
    GrantAnalyser,
    with_grants,
)
from warden.entitlements.models import Entitlement, GrantState
from warden.policy.bundle import default_schema
from warden.policy.engine import PreparedPolicies
from warden.policy.models import Bundle
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus, RiskTier

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"
GUARD = '@id("no-delete") forbid(principal, action, resource == Tool::"erp.delete");'
BASE = PreparedPolicies.prepare(Bundle({"guard.cedar": GUARD}, default_schema()), 3)


def _grant(resource_id: str = "erp.read", grant_id: str = "g1", **extra: object) -> Entitlement:
    fields: dict[str, object] = {
        "id": grant_id,
        "agent_id": AP,
        "action": "invoke",
        "resource_type": "Tool",
        "resource_id": resource_id,
        "justification": "reads open invoices",
        "granted_by": "ann@acme.example",
        "granted_at": NOW,
        "expires_at": None,
        "state": GrantState.ACTIVE,
    }
    fields.update(extra)
    return Entitlement(**fields)  # type: ignore[arg-type]


def _agent(agent_id: str, status: AgentStatus = AgentStatus.ACTIVE) -> Agent:
    return Agent(agent_id, "bot", "ann@acme.example", "finance", status, RiskTier.LOW, NOW, NOW)


def _view(grants: list[Entitlement], status: AgentStatus = AgentStatus.ACTIVE) -> DecisionView:
    registry = RegistrySnapshot.of([_agent(AP, status), _agent(HR)], [])
    return DecisionView.build(with_grants(BASE, grants), registry)


def _decide(
    view: DecisionView,
    tool: str,
    when: datetime = NOW,
    agent: str = AP,
    context: dict[str, object] | None = None,
    resource_type: str = "tool",
) -> tuple[Outcome, list[str]]:
    request = DecisionRequest(
        Entity("agent", agent), Action("invoke"), Entity(resource_type, tool), context or {}
    )
    decision = evaluate(view, (*DEFAULT_ANALYSERS, GrantAnalyser()), request, when, "d")
    return decision.outcome, [r.code for r in decision.reasons]


def test_the_entitlement_permit_is_what_its_cedar_text_says() -> None:
    parsed = json.loads(cedarpy.policies_to_json_str(POLICY_TEXT))["staticPolicies"]["policy0"]
    assert parsed == _POLICY_EST


def test_without_grants_the_bundle_is_used_as_is() -> None:
    assert with_grants(BASE, []) is BASE
    assert _decide(_view([]), "erp.read") == (Outcome.DENY, ["policy.no_permit"])


def test_a_grant_permits_exactly_its_request_and_names_itself() -> None:
    view = _view([_grant(), _grant("erp.delete", "g2")])
    assert isinstance(view.policies, EntitledPolicies) and view.revision == 3
    assert _decide(view, "erp.read") == (Outcome.ALLOW, ["entitlement:g1"])
    assert _decide(view, "erp.write") == (Outcome.DENY, ["policy.no_permit"])
    assert _decide(view, "erp.read", agent=HR) == (Outcome.DENY, ["policy.no_permit"])
    assert _decide(view, "erp.read", resource_type="document")[0] is Outcome.DENY
    assert _decide(view, "erp.delete") == (Outcome.DENY, ["no-delete"])  # the forbid wins


def test_a_wildcard_grant_covers_its_type_and_a_precise_grant_is_named_first() -> None:
    view = _view([_grant("*", "any"), _grant("erp.read", "exact")])
    assert _decide(view, "erp.read") == (Outcome.ALLOW, ["entitlement:exact"])
    assert _decide(view, "crm.read") == (Outcome.ALLOW, ["entitlement:any"])


def test_expiry_is_exact_to_the_microsecond() -> None:
    expires = NOW + timedelta(hours=1)
    view = _view([_grant(expires_at=expires)])
    assert _decide(view, "erp.read", expires - timedelta(microseconds=1))[0] is Outcome.ALLOW
    assert _decide(view, "erp.read", expires)[0] is Outcome.DENY


def test_a_client_cannot_claim_a_grant_through_its_context() -> None:
    forged = {"entitlements": {"granted": True, "grant": "g1"}}
    view = _view([_grant("erp.read")])
    assert _decide(view, "erp.write", context=forged) == (Outcome.DENY, ["policy.no_permit"])
    assert _decide(view, "erp.read", agent=HR, context=forged)[0] is Outcome.DENY


def test_grants_never_help_an_agent_that_is_not_active() -> None:
    for status in (AgentStatus.SUSPENDED, AgentStatus.PROVISIONED, AgentStatus.RETIRED):
        view = _view([_grant()], status)
        request = DecisionRequest(Entity("Agent", AP), Action("invoke"), Entity("tool", "erp.read"))
        feature = GrantAnalyser().analyse(request, view, NOW)
        assert feature is not None and feature.value == {"granted": False}, status


def test_a_grant_change_reuses_what_was_prepared_for_the_bundle() -> None:
    first = with_grants(BASE, [_grant()])
    second = with_grants(BASE, [_grant("crm.read", "g2")], first)
    assert isinstance(second, EntitledPolicies) and second is not first
    assert second.policy_ids == first.policy_ids and second.base is BASE
    assert list(second.index.grants) == ["g2"] and list(first.index.grants) == ["g1"]
    other = PreparedPolicies.prepare(Bundle({}, default_schema()), 4)
    assert with_grants(other, [_grant()], first).base is other  # a new bundle: prepared anew
