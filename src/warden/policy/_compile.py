"""Validating a bundle: every problem with its file, line and column.

Policies are parsed per file (cedarpy numbers them ``policy0``, ``policy1``... in file order)
and validated against the bundle's schema; each gets the stable id ``<file>#<n>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy

from warden.policy import locate
from warden.policy.bundle import ENTITIES_FILE, SCHEMA_FILE
from warden.policy.models import Bundle, PolicyProblem

RESPONSES = frozenset({"suspend_session"})
"""What a ``@respond("...")`` forbid asks the runtime to do when it determines a decision
(space-separated): ``suspend_session`` suspends the session the action was in and raises an
alert."""
STEP_UP = "step_up"
_EOF = "unexpected end of input"
_CLOSE = "\n;"
_CLOSE_ERROR = "unexpected token `;`"
_FOR_POLICY = re.compile(r"^for policy `[^`]*`, ")


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A parsed, validated policy: its stable id, where it is, its EST and annotations."""

    id: str
    file: str
    effect: str
    est: Mapping[str, Any]
    annotations: Mapping[str, str | None]

    @property
    def step_up(self) -> bool:
        return self.effect == "forbid" and self.annotations.get("outcome") == STEP_UP


@dataclass(frozen=True, slots=True)
class CompiledBundle:
    policies: tuple[CompiledPolicy, ...]
    schema: cedarpy.Schema
    entities: cedarpy.Entities


def compile_bundle(bundle: Bundle) -> tuple[CompiledBundle | None, list[PolicyProblem]]:
    """The compiled bundle, or ``None`` and every problem found."""
    schema, problems = _schema(bundle.schema)
    policies: list[CompiledPolicy] = []
    for file, text in bundle.policies.items():
        file_policies, file_problems = _policies(file, text, schema)
        policies += file_policies
        problems += file_problems
    problems += _annotation_problems(bundle, policies)
    entities, entity_problems = _entities(bundle.entities, schema)
    problems += entity_problems
    if problems or schema is None or entities is None:
        return None, problems
    return CompiledBundle(tuple(policies), schema, entities), []


def _schema(text: str) -> tuple[cedarpy.Schema | None, list[PolicyProblem]]:
    try:
        return cedarpy.Schema.from_str(text), []
    except ValueError as exc:
        message = str(exc)
        offset = locate.parse_error_offset(
            text, tuple(locate.tokens(text)), message, _schema_reached
        )
        return None, [_problem(SCHEMA_FILE, text, offset, None, message)]


def _schema_reached(prefix: str) -> bool:
    try:
        cedarpy.Schema.from_str(prefix + _CLOSE)
    except ValueError as exc:
        return str(exc).startswith("error parsing schema") and _past_prefix(str(exc))
    return False


def _policies(
    file: str, text: str, schema: cedarpy.Schema | None
) -> tuple[list[CompiledPolicy], list[PolicyProblem]]:
    statements = locate.statements(text)
    try:
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError:
        return [], [p for s in statements if (p := _statement_problem(file, text, s))]
    problems = [
        _at_policy(file, text, statements, key, "templates (policies with slots) are not supported")
        for key in est["templates"]
    ]
    if schema is not None:
        problems += _schema_problems(file, text, statements, schema)
    policies = [_compiled(file, key, policy) for key, policy in est["staticPolicies"].items()]
    return policies, problems


def _compiled(file: str, key: str, est: dict[str, Any]) -> CompiledPolicy:
    annotations = est.get("annotations") or {}
    return CompiledPolicy(policy_id(file, key), file, est["effect"], est, annotations)


def policy_id(file: str, cedar_id: str) -> str:
    """The stable id ``<file>#<n>`` of the policy cedarpy calls ``policy<n>`` in ``file``."""
    return f"{file}#{cedar_id.removeprefix('policy')}"


def _statement_problem(file: str, text: str, statement: locate.Statement) -> PolicyProblem | None:
    source = text[statement.start : statement.end]
    try:
        cedarpy.policies_to_json_str(source)
    except ValueError as exc:
        offset = locate.parse_error_offset(text, statement.tokens, str(exc), _policy_reached)
        return _problem(file, text, offset, None, str(exc))
    return None


def _policy_reached(prefix: str) -> bool:
    try:
        cedarpy.policies_to_json_str(prefix + _CLOSE)
    except ValueError as exc:
        return _past_prefix(str(exc))
    return False


def _past_prefix(message: str) -> bool:
    """Whether a parse of ``prefix + _CLOSE`` failed inside the prefix.

    Cedar recovers from a syntax error at the next ``;`` and reports the last error when input
    ends mid-recovery, so a bare prefix can hide its error behind "unexpected end of input";
    closing it with ``;`` makes a prefix that is merely short fail on that ``;`` instead.
    """
    return not message.endswith((_EOF, _CLOSE_ERROR))


def _schema_problems(
    file: str, text: str, statements: list[locate.Statement], schema: cedarpy.Schema
) -> list[PolicyProblem]:
    result = cedarpy.validate_policies(text, schema)
    return [
        _at_policy(file, text, statements, error.policy_id, _FOR_POLICY.sub("", error.error))
        for error in result.errors
    ]


def _at_policy(
    file: str, text: str, statements: list[locate.Statement], cedar_id: str, message: str
) -> PolicyProblem:
    """A problem in policy ``cedar_id``, placed on the name it quotes or else the policy's start."""
    index = cedar_id.removeprefix("policy")
    statement = statements[int(index)] if index.isdigit() and int(index) < len(statements) else None
    if statement is None:
        return PolicyProblem(file, 0, 0, policy_id(file, cedar_id), message)
    named = locate.named_offset(text, statement.start, statement.end, message)
    offset = statement.start if named is None else named
    return _problem(file, text, offset, policy_id(file, cedar_id), message)


def _annotation_problems(bundle: Bundle, policies: list[CompiledPolicy]) -> list[PolicyProblem]:
    problems = []
    seen: dict[str, str] = {}
    for policy in policies:
        outcome, label = policy.annotations.get("outcome", STEP_UP), policy.annotations.get("id")
        if outcome != STEP_UP or ("outcome" in policy.annotations and policy.effect != "forbid"):
            why = "`@outcome` must be `step_up` on a `forbid` policy"
            problems.append(_annotation_problem(bundle, policy, why, "`@outcome`"))
        respond = policy.annotations.get("respond")
        if "respond" in policy.annotations and (
            policy.effect != "forbid" or not respond or not set(respond.split()) <= RESPONSES
        ):
            known = ", ".join(f"`{r}`" for r in sorted(RESPONSES))
            why = f"`@respond` takes one or more of {known} on a `forbid` policy"
            problems.append(_annotation_problem(bundle, policy, why, "`@respond`"))
        if label and label in seen:
            why = f"`@id` `{label}` is also the id of `{seen[label]}`"
            problems.append(_annotation_problem(bundle, policy, why, "`@id`"))
        seen.setdefault(label or policy.id, policy.id)
    return problems


def _annotation_problem(
    bundle: Bundle, policy: CompiledPolicy, message: str, name: str
) -> PolicyProblem:
    text = bundle.policies[policy.file]
    cedar_id = "policy" + policy.id.rsplit("#", 1)[1]
    problem = _at_policy(policy.file, text, locate.statements(text), cedar_id, name)
    return PolicyProblem(problem.file, problem.line, problem.column, policy.id, message)


def _entities(
    entities: tuple[Mapping[str, Any], ...] | Any, schema: cedarpy.Schema | None
) -> tuple[cedarpy.Entities | None, list[PolicyProblem]]:
    try:
        return cedarpy.Entities.from_json_str(json.dumps(list(entities)), schema), []
    except (ValueError, TypeError) as exc:
        found = [p for i, e in enumerate(entities) if (p := _entity_problem(i, e, schema))]
        return None, found or [PolicyProblem(ENTITIES_FILE, 0, 0, None, str(exc))]


def _entity_problem(
    index: int, entity: Mapping[str, Any], schema: cedarpy.Schema | None
) -> PolicyProblem | None:
    try:
        cedarpy.Entities.from_json_str(json.dumps([entity]), schema)
    except (ValueError, TypeError) as exc:
        uid = entity.get("uid") if isinstance(entity.get("uid"), dict) else {}
        name = f'`{uid.get("type")}::"{uid.get("id")}"`' if uid else f"number {index}"
        return PolicyProblem(ENTITIES_FILE, 0, 0, None, f"entity {name}: {exc}")
    return None


def _problem(file: str, text: str, offset: int, policy: str | None, message: str) -> PolicyProblem:
    line, column = locate.line_column(text, offset)
    return PolicyProblem(file, line, column, policy, message)
