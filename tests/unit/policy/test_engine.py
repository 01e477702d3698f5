from __future__ import annotations

from policy_helpers import AGENT, INVOKE, TOOL, context, decide, prepare, request_entities

from warden.decisions.models import Outcome
from warden.policy import NO_PERMIT, POLICY_ERROR

PERMIT_ALL = "permit(principal, action, resource);"


def codes(verdict: object) -> list[str]:
    return [r.code for r in verdict.reasons]  # type: ignore[attr-defined]


def test_permit_allows_with_the_permit_as_reason() -> None:
    verdict = decide(prepare('@id("all") @reason("anything goes") ' + PERMIT_ALL))
    assert verdict.outcome is Outcome.ALLOW
    assert [(r.code, r.message, r.outcome) for r in verdict.reasons] == [
        ("all", "anything goes", Outcome.ALLOW)
    ]


def test_no_permit_is_default_deny() -> None:
    permit = "permit(principal, action, resource) when { context.risk.read_only };"
    verdict = decide(prepare(permit))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [NO_PERMIT]
    assert verdict.reasons[0].source == "pipeline"
    assert "`invoke`" in verdict.reasons[0].message


def test_forbid_overrides_permit_and_names_the_forbid() -> None:
    forbid = (
        '@id("no-destructive") '
        "forbid(principal, action, resource) when { context.risk.destructive };"
    )
    verdict = decide(prepare(PERMIT_ALL, forbid), context(destructive=True))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == ["no-destructive"]
    assert verdict.reasons[0].message == "forbidden by policy `no-destructive`"


def test_without_id_the_stable_file_index_id_is_the_code() -> None:
    forbid = "// first\n" + PERMIT_ALL + "\nforbid(principal, action, resource);"
    verdict = decide(prepare(forbid))
    assert codes(verdict) == ["p0.cedar#1"]


STEP_UP = (
    '@id("big-payment") @reason("payments need a person") @outcome("step_up")\n'
    "forbid(principal, action, resource) when { context.risk.external };"
)


def test_step_up_forbid_yields_step_up() -> None:
    verdict = decide(prepare(PERMIT_ALL, STEP_UP), context(external=True))
    assert verdict.outcome is Outcome.STEP_UP
    assert [(r.code, r.message, r.outcome) for r in verdict.reasons] == [
        ("big-payment", "payments need a person", Outcome.STEP_UP)
    ]


def test_step_up_forbid_that_does_not_match_allows() -> None:
    verdict = decide(prepare('@id("ok") ' + PERMIT_ALL, STEP_UP), context(external=False))
    assert verdict.outcome is Outcome.ALLOW
    assert codes(verdict) == ["ok"]


def test_deny_overrides_step_up() -> None:
    forbid = '@id("hard") forbid(principal, action, resource);'
    verdict = decide(prepare(PERMIT_ALL, STEP_UP, forbid), context(external=True))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == ["hard"]


def test_step_up_without_a_permit_is_deny() -> None:
    verdict = decide(prepare(STEP_UP), context(external=True))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [NO_PERMIT]


OVERFLOW = 'context.risk.labels.contains("x") || 9223372036854775807 + 1 > 0'


def test_forbid_that_errors_denies() -> None:
    forbid = f'@id("fragile") forbid(principal, action, resource) when {{ {OVERFLOW} }};'
    verdict = decide(prepare(PERMIT_ALL, forbid))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [POLICY_ERROR]
    assert "`fragile`" in verdict.reasons[0].message
    assert any("overflow" in e for e in verdict.errors)


def test_step_up_forbid_that_errors_denies() -> None:
    forbid = f'@outcome("step_up") forbid(principal, action, resource) when {{ {OVERFLOW} }};'
    verdict = decide(prepare(PERMIT_ALL, forbid))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [POLICY_ERROR]


def test_permit_that_errors_just_does_not_permit() -> None:
    permit = f"permit(principal, action, resource) when {{ {OVERFLOW} }};"
    verdict = decide(prepare(permit))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [NO_PERMIT]
    assert verdict.errors


def test_context_missing_what_a_forbid_reads_denies() -> None:
    forbid = "forbid(principal, action, resource) when { context.risk.external };"
    prepared = prepare(PERMIT_ALL, forbid)
    verdict = prepared.evaluate(AGENT, INVOKE, TOOL, {}, request_entities(prepared))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [POLICY_ERROR]


def test_cedar_failure_denies_with_policy_error() -> None:
    prepared = prepare(PERMIT_ALL)
    verdict = prepared.evaluate(AGENT, INVOKE, TOOL, {"x": object()}, request_entities(prepared))
    assert verdict.outcome is Outcome.DENY
    assert codes(verdict) == [POLICY_ERROR]


def test_bundle_entities_are_in_the_base_graph() -> None:
    team = {"uid": {"type": "Team", "id": "finance"}, "attrs": {}, "parents": []}
    prepared = prepare('permit(principal in Team::"finance", action, resource);', entities=(team,))
    assert prepared.entity_uids == {("Team", "finance")}
    assert decide(prepared).outcome is Outcome.ALLOW


def test_entity_attributes_are_read() -> None:
    permit = 'permit(principal, action, resource) when { principal.risk_tier == "low" };'
    prepared = prepare(permit)
    high = request_entities(prepared, risk_tier="high")
    assert decide(prepared).outcome is Outcome.ALLOW
    assert prepared.evaluate(AGENT, INVOKE, TOOL, context(), high).outcome is Outcome.DENY


def test_slices_are_built_once_and_reused() -> None:
    prepared = prepare(PERMIT_ALL)
    decide(prepared)
    first = prepared._slices[("Action", "invoke", "Tool", None)]
    decide(prepared)
    assert prepared._slices[("Action", "invoke", "Tool", None)] is first
