"""Grants as Cedar policies: the JSON form Warden builds is exactly what the Cedar text says,
and merged with a bundle it permits only what was granted (pure: no store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import cedarpy
import pytest

from warden.decisions.analysers import DEFAULT_ANALYSERS
from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.decisions.pipeline import evaluate
from warden.decisions.view import DecisionView
from warden.entitlements.cedar import (
    EntitledPolicies,
    GrantClock,
    cedar_text,
    grant_policy,
    micros,
    with_grants,
)
from warden.entitlements.models import Entitlement, GrantState
from warden.policy.bundle import default_schema
from warden.policy.engine import PreparedPolicies
from warden.policy.models import Bundle
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent, AgentStatus, RiskTier

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AP = 'spiffe://acme.example/agent/ap "clerk"'


def _grant(resource_id: str = "erp.read", **extra: object) -> Entitlement:
    fields: dict[str, object] = {
        "id": "g1",
        "agent_id": AP,
        "action": "invoke",
        "resource_type": "Tool",
        "resource_id": resource_id,
        "justification": 'reads "open" invoices \\ nightly',
        "granted_by": "ann@acme.example",
        "granted_at": NOW,
        "expires_at": None,
        "state": GrantState.ACTIVE,
    }
    fields.update(extra)
    return Entitlement(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "grant",
    [
        _grant(),
        _grant("*"),
        _grant(expires_at=NOW + timedelta(days=30, microseconds=7)),
        _grant('dir/with "quotes"', action="read", resource_type="Docs::Document"),
    ],
)
def test_the_built_policy_is_what_its_cedar_text_says(grant: Entitlement) -> None:
    parsed = json.loads(cedarpy.policies_to_json_str(cedar_text(grant)))["staticPolicies"]
    assert parsed["policy0"] == grant_policy(grant).est


def test_micros_is_exact() -> None:
    when = datetime(2286, 11, 20, 17, 46, 39, 999999, tzinfo=UTC)
    assert micros(when) == 9_999_999_999_999_999
    assert micros(NOW + timedelta(microseconds=1)) - micros(NOW) == 1


def _view(grants: list[Entitlement]) -> DecisionView:
    guard = '@id("no-delete") forbid(principal, action, resource == Tool::"erp.delete");'
    base = PreparedPolicies.prepare(Bundle({"guard.cedar": guard}, default_schema()), 3)
    agent = Agent(
        AP, "AP", "ann@acme.example", "finance", AgentStatus.ACTIVE, RiskTier.LOW, NOW, NOW
    )
    return DecisionView.build(with_grants(base, grants), RegistrySnapshot.of([agent], []))


def _outcome(view: DecisionView, tool: str, when: datetime = NOW) -> tuple[Outcome, list[str]]:
    request = DecisionRequest(Entity("agent", AP), Action("invoke"), Entity("tool", tool))
    decision = evaluate(view, (*DEFAULT_ANALYSERS, GrantClock()), request, when, "d")
    return decision.outcome, [r.code for r in decision.reasons]


def test_without_grants_the_bundle_is_used_as_is() -> None:
    base = PreparedPolicies.prepare(Bundle({}, default_schema()), 1)
    assert with_grants(base, []) is base


def test_merged_grants_permit_only_their_resource_and_keep_the_revision() -> None:
    view = _view([_grant(), _grant("erp.delete", id="g2")])
    assert isinstance(view.policies, EntitledPolicies) and view.revision == 3
    assert _outcome(view, "erp.read") == (Outcome.ALLOW, ["entitlement:g1"])
    assert _outcome(view, "erp.write") == (Outcome.DENY, ["policy.no_permit"])
    assert _outcome(view, "erp.delete") == (Outcome.DENY, ["no-delete"])


def test_only_agents_with_an_expiring_grant_get_the_clock() -> None:
    expiring = _view([_grant(expires_at=NOW + timedelta(hours=1))])
    request = DecisionRequest(Entity("agent", AP), Action("invoke"), Entity("tool", "erp.read"))
    assert GrantClock().analyse(request, expiring, NOW) is not None
    assert GrantClock().analyse(request, _view([_grant()]), NOW) is None
    other = DecisionRequest(Entity("agent", "spiffe://x/y"), Action("invoke"), Entity("tool", "t"))
    assert GrantClock().analyse(other, expiring, NOW) is None
    assert _outcome(expiring, "erp.read", NOW + timedelta(minutes=59))[0] is Outcome.ALLOW
    assert _outcome(expiring, "erp.read", NOW + timedelta(hours=1))[0] is Outcome.DENY
