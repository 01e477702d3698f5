"""What a campaign request may say: scopes, deadlines, decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from warden.reviews.models import Consequence, Scope, ScopeKind
from warden.reviews.specs import CampaignSpec, DecisionSpec, ScopeSpec


def _campaign(**fields: Any) -> CampaignSpec:
    body = {"name": "Q4", "deadline": "2027-01-31T00:00:00Z", "on_deadline": "revoke", **fields}
    return CampaignSpec.model_validate(body)


def test_scope_defaults_to_every_agent() -> None:
    spec = _campaign()
    assert spec.scope.to_scope() == Scope(ScopeKind.ALL, None)
    assert spec.scope.to_scope().describe() == "all agents"
    assert spec.on_deadline is Consequence.REVOKE
    assert spec.deadline == datetime(2027, 1, 31, tzinfo=UTC)


def test_an_owner_scope_is_a_lower_cased_email() -> None:
    scope = ScopeSpec(kind=ScopeKind.OWNER, value="Ann@Acme.example").to_scope()
    assert scope.value == "ann@acme.example"
    assert scope.describe() == "owner `ann@acme.example`"


@pytest.mark.parametrize(
    ("scope", "problem"),
    [
        ({"kind": "all", "value": "finance"}, "takes no value"),
        ({"kind": "team"}, "a team scope needs a value"),
        ({"kind": "owner", "value": "ann"}, "email address"),
        ({"kind": "risk_tier", "value": "extreme"}, "low, medium, high, critical"),
        ({"kind": "department", "value": "x"}, "kind"),
    ],
)
def test_malformed_scopes_are_refused(scope: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _campaign(scope=scope)


def test_a_deadline_needs_a_time_zone() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        _campaign(deadline="2027-01-31T00:00:00")


def test_the_consequence_is_revoke_or_suspend() -> None:
    assert _campaign(on_deadline="suspend").on_deadline is Consequence.SUSPEND
    with pytest.raises(ValidationError, match="on_deadline"):
        _campaign(on_deadline="retire")


def test_a_decision_is_certify_or_revoke() -> None:
    assert DecisionSpec.model_validate({"decision": "certify"}).comment is None
    with pytest.raises(ValidationError, match="decision"):
        DecisionSpec.model_validate({"decision": "approve"})
    with pytest.raises(ValidationError, match="comment"):
        DecisionSpec.model_validate({"decision": "revoke", "comment": "x" * 1001})
