"""AuthZEN 1.0 parsing and batch semantics, with plain values and a canned ``decide``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warden.decisions.authzen import (
    MAX_EVALUATIONS,
    MAX_IDENTIFIER_LENGTH,
    EvaluationsSemantic,
    decision_response,
    evaluate,
    evaluate_batch,
    evaluations_response,
    parse_evaluation,
    parse_semantic,
)
from warden.decisions.errors import InvalidRequest
from warden.decisions.models import (
    Action,
    Decision,
    DecisionRequest,
    Entity,
    Outcome,
    Reason,
)

ALICE = {"type": "user", "id": "alice"}
READ = {"name": "read"}


def doc(doc_id: str) -> dict[str, str]:
    return {"type": "document", "id": doc_id}


def body(**fields: Any) -> dict[str, Any]:
    return {"subject": ALICE, "action": READ, "resource": doc("ok-1"), **fields}


def decision(outcome: Outcome, decision_id: str = "d-1") -> Decision:
    reason = Reason("rule", f"canned {outcome.value}", "policy", outcome)
    return Decision(
        outcome=outcome,
        reasons=(reason,),
        errors=(),
        policy_revision=7,
        decision_id=decision_id,
        decided_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


class CannedPipeline:
    """Allows documents whose id starts with ``ok``, raises for ``boom``, denies the rest."""

    def __init__(self) -> None:
        self.asked: list[DecisionRequest] = []

    async def __call__(self, request: DecisionRequest) -> Decision:
        self.asked.append(request)
        if request.resource.id == "boom":
            raise RuntimeError("store down")
        if request.resource.id == "unholdable":
            raise InvalidRequest("`context.x` cannot be held", field="context.x")
        allowed = request.resource.id.startswith("ok")
        outcome = Outcome.ALLOW if allowed else Outcome.DENY
        return decision(outcome, f"d-{len(self.asked)}")


def decisions(results: list[dict[str, Any]]) -> list[bool]:
    return [r["decision"] for r in results]


# -- single evaluation --------------------------------------------------------------------------


def test_parses_a_full_evaluation() -> None:
    request = parse_evaluation(
        {
            "subject": {"type": "user", "id": "alice", "properties": {"dept": "ops"}},
            "action": {"name": "can_read", "properties": {"method": "GET"}},
            "resource": {"type": "account", "id": "123"},
            "context": {"time": "1985-10-26T01:22-07:00"},
        }
    )
    assert request == DecisionRequest(
        subject=Entity("user", "alice", {"dept": "ops"}),
        action=Action("can_read", {"method": "GET"}),
        resource=Entity("account", "123", {}),
        context={"time": "1985-10-26T01:22-07:00"},
    )


def test_unknown_fields_are_ignored_and_null_is_absent() -> None:
    request = parse_evaluation(
        {
            "subject": {**ALICE, "display": "Alice", "properties": None},
            "action": READ,
            "resource": doc("1"),
            "context": None,
            "extension": {"anything": True},
        }
    )
    assert request.subject == Entity("user", "alice", {})
    assert request.context == {}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"action": READ, "resource": doc("1")}, "subject"),
        (body(subject=None), "subject"),
        (body(subject="alice"), "subject"),
        (body(subject={"type": "user"}), "subject.id"),
        (body(subject={"type": "user", "id": 42}), "subject.id"),
        (body(subject={"type": "", "id": "alice"}), "subject.type"),
        (body(subject={**ALICE, "properties": ["x"]}), "subject.properties"),
        (body(action={}), "action.name"),
        (body(action={"name": ["read"]}), "action.name"),
        (body(action={**READ, "properties": "x"}), "action.properties"),
        (body(resource={"id": "1"}), "resource.type"),
        (body(resource=doc("x" * (MAX_IDENTIFIER_LENGTH + 1))), "resource.id"),
        (body(context=[1, 2]), "context"),
        ({"subject": ALICE, "action": READ}, "resource"),
    ],
)
def test_a_malformed_evaluation_names_its_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_evaluation(raw)
    assert caught.value.field == field
    assert caught.value.code == "invalid_request"
    assert f"`{field}`" in caught.value.message


@pytest.mark.parametrize("raw", [[], "x", 1, None])
def test_a_body_that_is_not_an_object_is_invalid(raw: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_evaluation(raw)
    assert caught.value.field == ""


def test_an_identifier_at_the_length_cap_is_accepted() -> None:
    request = parse_evaluation(body(resource=doc("x" * MAX_IDENTIFIER_LENGTH)))
    assert len(request.resource.id) == MAX_IDENTIFIER_LENGTH


async def test_evaluate_answers_with_the_decision() -> None:
    assert (await evaluate(body(), CannedPipeline()))["decision"] is True
    assert (await evaluate(body(resource=doc("no")), CannedPipeline()))["decision"] is False


# -- responses ----------------------------------------------------------------------------------


def test_decision_response_carries_warden_context() -> None:
    response = decision_response(decision(Outcome.ALLOW, "d-42"))
    assert response == {
        "decision": True,
        "context": {
            "outcome": "allow",
            "decision_id": "d-42",
            "reasons": [
                {"code": "rule", "message": "canned allow", "source": "policy", "outcome": "allow"}
            ],
            "policy_revision": 7,
        },
    }


@pytest.mark.parametrize("outcome", [Outcome.DENY, Outcome.STEP_UP])
def test_only_allow_is_true(outcome: Outcome) -> None:
    response = decision_response(decision(outcome))
    assert response["decision"] is False
    assert response["context"]["outcome"] == outcome.value


# -- batch: defaults and overrides --------------------------------------------------------------


async def test_top_level_values_are_defaults_items_override_wholesale() -> None:
    pipeline = CannedPipeline()
    request = {
        "subject": ALICE,
        "action": READ,
        "context": {"time": "t0", "ip": "10.0.0.1"},
        "evaluations": [
            {"resource": doc("ok-1")},
            {"resource": doc("ok-2"), "action": {"name": "edit"}},
            {"resource": doc("ok-3"), "context": {"time": "t1"}},
            {"resource": doc("ok-4"), "subject": {"type": "user", "id": "bob"}},
        ],
    }
    results = await evaluate_batch(request, pipeline)
    assert decisions(results) == [True, True, True, True]
    asked = pipeline.asked
    assert [r.resource.id for r in asked] == ["ok-1", "ok-2", "ok-3", "ok-4"]
    assert [r.action.name for r in asked] == ["read", "edit", "read", "read"]
    assert asked[0].context == {"time": "t0", "ip": "10.0.0.1"}
    assert asked[2].context == {"time": "t1"}  # replaced, not merged
    assert [r.subject.id for r in asked] == ["alice", "alice", "alice", "bob"]


async def test_an_unused_malformed_default_does_not_fail_the_batch() -> None:
    # The interop Todo backend sends `"resource": {}` and overrides it in every item.
    request = {
        "subject": ALICE,
        "action": READ,
        "resource": {},
        "context": {},
        "evaluations": [{"resource": doc("ok-1")}, {"resource": doc("no-2")}],
    }
    assert decisions(await evaluate_batch(request, CannedPipeline())) == [True, False]


async def test_results_keep_request_order() -> None:
    ids = ["ok-a", "no-b", "ok-c", "no-d", "no-e", "ok-f"]
    request = body(evaluations=[{"resource": doc(i)} for i in ids])
    results = await evaluate_batch(request, CannedPipeline())
    assert decisions(results) == [i.startswith("ok") for i in ids]
    assert [r["context"]["decision_id"] for r in results] == [f"d-{n}" for n in range(1, 7)]


# -- batch: errors in one item ------------------------------------------------------------------


async def test_one_malformed_item_does_not_fail_the_batch() -> None:
    pipeline = CannedPipeline()
    request = {
        "subject": ALICE,
        "action": READ,
        "evaluations": [
            {"resource": doc("ok-1")},
            {"resource": {"id": "2"}},
            "not an object",
            {"resource": doc("ok-4")},
        ],
    }
    results = await evaluate_batch(request, pipeline)
    assert decisions(results) == [True, False, False, True]
    error = results[1]["context"]["error"]
    assert error["status"] == 400
    assert "`evaluations[1].resource.type`" in error["message"]
    assert "`evaluations[2]`" in results[2]["context"]["error"]["message"]
    assert len(pipeline.asked) == 2


async def test_a_missing_field_without_default_is_named_on_the_item() -> None:
    request = {"subject": ALICE, "evaluations": [{"resource": doc("ok-1")}]}
    [result] = await evaluate_batch(request, CannedPipeline())
    assert result["decision"] is False
    assert "`evaluations[0].action`" in result["context"]["error"]["message"]


async def test_a_used_malformed_default_is_named_at_top_level() -> None:
    request = {"subject": {"type": "user"}, "action": READ, "evaluations": [{"resource": doc("1")}]}
    [result] = await evaluate_batch(request, CannedPipeline())
    assert "`subject.id`" in result["context"]["error"]["message"]


async def test_a_failing_pipeline_denies_only_that_item() -> None:
    request = body(evaluations=[{"resource": doc("boom")}, {"resource": doc("ok-2")}])
    results = await evaluate_batch(request, CannedPipeline())
    assert decisions(results) == [False, True]
    assert results[0]["context"]["error"]["status"] == 500
    assert "store down" not in results[0]["context"]["error"]["message"]


async def test_a_value_the_pipeline_cannot_hold_is_a_400_item() -> None:
    request = body(evaluations=[{"resource": doc("unholdable")}, {"resource": doc("ok-2")}])
    results = await evaluate_batch(request, CannedPipeline())
    assert decisions(results) == [False, True]
    assert results[0]["context"]["error"]["status"] == 400


# -- batch: semantics ---------------------------------------------------------------------------


def batch(semantic: str | None, *ids: str) -> dict[str, Any]:
    request = body(evaluations=[{"resource": doc(i)} for i in ids])
    if semantic is not None:
        request["options"] = {"evaluations_semantic": semantic}
    return request


@pytest.mark.parametrize(
    ("semantic", "ids", "expected"),
    [
        (None, ("ok-1", "no-2", "ok-3"), [True, False, True]),
        ("execute_all", ("ok-1", "no-2", "ok-3"), [True, False, True]),
        ("deny_on_first_deny", ("ok-1", "no-2", "ok-3"), [True, False]),
        ("deny_on_first_deny", ("ok-1", "ok-2", "ok-3"), [True, True, True]),
        ("deny_on_first_deny", ("no-1", "ok-2"), [False]),
        ("permit_on_first_permit", ("no-1", "ok-2", "no-3"), [False, True]),
        ("permit_on_first_permit", ("ok-1", "ok-2"), [True]),
        ("permit_on_first_permit", ("no-1", "no-2", "no-3"), [False, False, False]),
    ],
)
async def test_semantics_short_circuit(
    semantic: str | None, ids: tuple[str, ...], expected: list[bool]
) -> None:
    pipeline = CannedPipeline()
    results = await evaluate_batch(batch(semantic, *ids), pipeline)
    assert decisions(results) == expected
    assert len(pipeline.asked) == len(expected)  # nothing after the stop was decided


async def test_an_item_error_counts_as_a_deny_for_deny_on_first_deny() -> None:
    request = batch("deny_on_first_deny", "ok-1", "boom", "ok-3")
    assert decisions(await evaluate_batch(request, CannedPipeline())) == [True, False]
    request["evaluations"][1] = {"resource": {"type": "document"}}
    assert decisions(await evaluate_batch(request, CannedPipeline())) == [True, False]


def test_semantic_defaults_to_execute_all() -> None:
    assert parse_semantic({}) is EvaluationsSemantic.EXECUTE_ALL
    assert parse_semantic({"options": {"other": 1}}) is EvaluationsSemantic.EXECUTE_ALL


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"evaluations_semantic": "first_wins"}, "options.evaluations_semantic"),
        ({"evaluations_semantic": 1}, "options.evaluations_semantic"),
        ("execute_all", "options"),
    ],
)
async def test_bad_options_fail_the_whole_request(options: object, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await evaluate_batch(body(options=options, evaluations=[{}]), CannedPipeline())
    assert caught.value.field == field


async def test_evaluations_must_be_a_bounded_array() -> None:
    with pytest.raises(InvalidRequest) as caught:
        await evaluate_batch(body(evaluations={"0": {}}), CannedPipeline())
    assert caught.value.field == "evaluations"
    too_many = body(evaluations=[{}] * (MAX_EVALUATIONS + 1))
    with pytest.raises(InvalidRequest) as caught:
        await evaluate_batch(too_many, CannedPipeline())
    assert caught.value.field == "evaluations"


# -- batch endpoint without a batch -------------------------------------------------------------


@pytest.mark.parametrize("evaluations", [None, []])
async def test_absent_or_empty_evaluations_is_a_single_evaluation(
    evaluations: list[Any] | None,
) -> None:
    request = body(resource=doc("ok-1"))
    if evaluations is not None:
        request["evaluations"] = evaluations
    assert decisions(await evaluate_batch(request, CannedPipeline())) == [True]
    response = await evaluations_response(request, CannedPipeline())
    assert response["decision"] is True
    assert "evaluations" not in response


async def test_a_single_evaluation_in_the_batch_endpoint_fails_as_a_whole() -> None:
    with pytest.raises(InvalidRequest) as caught:
        await evaluate_batch({"subject": ALICE, "action": READ}, CannedPipeline())
    assert caught.value.field == "resource"


async def test_evaluations_response_wraps_a_batch() -> None:
    response = await evaluations_response(batch(None, "ok-1", "no-2"), CannedPipeline())
    assert decisions(response["evaluations"]) == [True, False]
    assert "decision" not in response
