"""What a decision tells the shadow tally: who, why, what it tried, for whom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome, Reason
from warden.shadow.models import SightingKind
from warden.shadow.sources import human_of, observed, tried

GHOST = "spiffe://acme.example/agent/ghost"


def test_the_person_comes_from_the_context_when_it_says_so() -> None:
    assert human_of({"user": "ann@acme.example"}) == "ann@acme.example"
    assert human_of({"act": {"sub": "bob@acme.example"}}) == "bob@acme.example"
    assert human_of({"on_behalf_of": {"email": "cy@acme.example"}}) == "cy@acme.example"
    assert human_of({"amount": 3}) is None
    assert human_of({"user": {"name": "no id"}}) is None


def test_a_tool_is_named_plainly_other_resources_with_their_type() -> None:
    assert tried(Entity("tool", "ledger.read")) == "ledger.read"
    assert tried(Entity("document", "q3.pdf")) == "document:q3.pdf"


@pytest.mark.parametrize(
    ("codes", "status"),
    [
        (["agent.unknown"], None),
        (["agent.provisioned"], "provisioned"),
        (["agent.suspended"], "suspended"),
        (["agent.retired"], "retired"),
        (["agent.expired"], "expired"),
        (["agent.blocked"], "active"),  # registered and active, but blocked
        (["agent.blocked", "agent.unknown"], None),
        (["agent.blocked", "agent.suspended"], "suspended"),
    ],
)
def test_decisions_denied_for_the_agent_itself_are_sighted(
    codes: list[str], status: str | None
) -> None:
    request, decision = _decided("agent", codes)
    seen = observed(request, decision, where="authzen")
    assert seen is not None
    assert (seen.kind, seen.identifier, seen.where) == (SightingKind.SUBJECT, GHOST, "authzen")
    assert seen.registry_status == status and seen.decision_id == "d-1"
    assert seen.tool == "ledger.read" and seen.human == "ann@acme.example"


def test_other_denials_and_other_subjects_are_not_sightings() -> None:
    assert observed(*_decided("agent", ["policy.no_permit"]), where="authzen") is None
    assert observed(*_decided("user", ["agent.unknown"]), where="authzen") is None


def _decided(subject_type: str, codes: list[str]) -> tuple[DecisionRequest, Decision]:
    request = DecisionRequest(
        Entity(subject_type, GHOST),
        Action("invoke"),
        Entity("tool", "ledger.read"),
        {"user": "ann@acme.example"},
    )
    reasons = tuple(Reason(c, c, "analyser", Outcome.DENY) for c in codes)
    return request, Decision(Outcome.DENY, reasons, (), 1, "d-1", datetime.now(UTC))
