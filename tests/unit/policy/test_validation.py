from __future__ import annotations

import pytest

from warden.decisions.models import Outcome, Reason
from warden.policy import Bundle, PolicyProblem, PolicyValidationError, PreparedPolicies
from warden.policy.engine import validate_bundle

GOOD = "permit(principal, action, resource);\n"

SECOND = """// payments
@id("pay")
permit (
  principal,
  action == Action::"invoke",
  resource
) when { context.risk.read_only } };
"""  # line 7 column 35 is the stray `}`


def problems(
    schema: str, *files: str, entities: tuple[dict[str, object], ...] = ()
) -> list[PolicyProblem]:
    policies = {f"{name}.cedar": text for name, text in zip("ab", files, strict=False)}
    return validate_bundle(Bundle(policies, schema, entities))


def test_syntax_error_in_second_file_has_its_line_and_column(schema: str) -> None:
    [problem] = problems(schema, GOOD, SECOND)
    assert (problem.file, problem.line, problem.column) == ("b.cedar", 7, 35)
    assert problem.message == "unexpected token `}`"


def test_syntax_error_at_line_7_column_12(schema: str) -> None:
    text = GOOD * 6 + "permit(pri ncipal, action, resource);\n"
    [problem] = problems(schema, GOOD, text)
    assert (problem.file, problem.line, problem.column) == ("b.cedar", 7, 12)


def test_every_bad_statement_is_reported_and_comments_and_strings_are_skipped(schema: str) -> None:
    text = (
        '@reason("a; b // c") permit(principal, action, resource) when { 1 + };\n'
        "// forbid(principal, action, resource) };\n"
        "forbid(principal, acton, resource);\n"
        "permit(principal, action, resource)\n"
    )
    found = [(p.line, p.column, p.message) for p in problems(schema, text)]
    assert found == [
        (1, 69, "unexpected token `}`"),
        (3, 19, "found an invalid variable in the policy scope: acton"),
        (4, 36, "unexpected end of input"),
    ]


def test_schema_type_error_names_the_policy_file_line_and_attribute(schema: str) -> None:
    text = (
        GOOD + "\n// typo below\n"
        "forbid(principal, action, resource)\n  when { context.risk.destructve };\n"
    )
    [problem] = problems(schema, GOOD, text)
    assert (problem.file, problem.policy_id) == ("b.cedar", "b.cedar#1")
    assert (problem.line, problem.column) == (5, 23)
    assert "`risk.destructve`" in problem.message


def test_unknown_action_is_a_problem_at_its_policy(schema: str) -> None:
    problem = problems(schema, 'permit(principal, action == Action::"fly", resource);')[0]
    assert (problem.line, problem.column, problem.policy_id) == (1, 29, "a.cedar#0")
    assert problem.message == 'unrecognized action `Action::"fly"`'


@pytest.mark.parametrize(
    ("policy", "column"),
    [
        ('@outcome("step_up") permit(principal, action, resource);', 1),
        ('@id("x") @outcome("maybe") forbid(principal, action, resource);', 10),
    ],
)
def test_outcome_only_step_up_on_forbid(schema: str, policy: str, column: int) -> None:
    [problem] = problems(schema, policy)
    assert (problem.line, problem.column) == (1, column)
    assert "`@outcome`" in problem.message


@pytest.mark.parametrize(
    "policy",
    [
        '@respond("suspend_session") permit(principal, action, resource);',
        '@respond("reboot_the_world") forbid(principal, action, resource);',
        '@respond("") forbid(principal, action, resource);',
    ],
)
def test_respond_names_a_known_response_on_a_forbid(schema: str, policy: str) -> None:
    [problem] = problems(schema, policy)
    assert "`@respond`" in problem.message and "`suspend_session`" in problem.message


def test_responses_of_the_policies_that_determined_a_decision(schema: str) -> None:
    text = (
        '@id("drift.extreme") @respond("suspend_session") forbid(principal, action, resource);\n'
        '@id("plain") forbid(principal, action, resource);\n'
    )
    prepared = PreparedPolicies.prepare(Bundle({"a.cedar": text}, schema, ()), 1)
    extreme = Reason("drift.extreme", "", "policy", Outcome.DENY)
    plain = Reason("plain", "", "policy", Outcome.DENY)
    finding = Reason("drift.extreme", "", "analyser", Outcome.DENY)  # not a policy
    assert prepared.responses([plain, extreme]) == {"suspend_session"}
    assert prepared.responses([plain, finding]) == frozenset()


def test_duplicate_ids_are_a_problem(schema: str) -> None:
    [problem] = problems(schema, '@id("x") ' + GOOD, '\n@id("x") ' + GOOD)
    assert (problem.file, problem.line, problem.policy_id) == ("b.cedar", 2, "b.cedar#0")


def test_templates_are_rejected(schema: str) -> None:
    [problem] = problems(schema, GOOD + "permit(principal == ?principal, action, resource);")
    assert (problem.line, problem.policy_id) == (2, "a.cedar#1")


def test_schema_syntax_error_has_a_position() -> None:
    [problem] = problems("entity A;\nentity B {\n  x: Long,, };\n", GOOD)
    assert (problem.file, problem.line, problem.column) == ("schema.cedarschema", 3, 11)


def test_schema_unknown_type_points_at_it() -> None:
    [problem] = problems("entity A;\n// B in C\nentity B in [C];\n", GOOD)
    assert (problem.line, problem.column) == (3, 14)


def test_entities_that_do_not_fit_the_schema_are_named(schema: str) -> None:
    team = {"uid": {"type": "Team", "id": "ok"}, "attrs": {}, "parents": []}
    bad = {"uid": {"type": "Person", "id": "ann"}, "attrs": {"email": 3}, "parents": []}
    [problem] = problems(schema, GOOD, entities=(team, bad))
    assert problem.file == "entities.json"
    assert '`Person::"ann"`' in problem.message


def test_prepare_raises_with_all_problems(schema: str) -> None:
    with pytest.raises(PolicyValidationError) as caught:
        PreparedPolicies.prepare(Bundle({"a.cedar": "permit(;", "b.cedar": "forbid(;"}, schema), 1)
    assert [p.file for p in caught.value.problems] == ["a.cedar", "b.cedar"]
    assert str(caught.value).startswith("a.cedar:1:8: unexpected token `;` (and 1 more)")
    assert caught.value.code == "policy_invalid"
