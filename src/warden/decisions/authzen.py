"""OpenID AuthZEN Authorization API 1.0: request parsing and response shaping, free of HTTP.

Implements ``api/authorization-api-1_0.md`` of openid/authzen@e287920 (marked final):

- §6 Access Evaluation API: ``subject{type,id,properties?}``, ``action{name,properties?}``,
  ``resource{type,id,properties?}``, ``context?`` → ``{"decision": bool, "context"?}``.
- §7 Access Evaluations API ("boxcarring"): top-level ``subject``/``action``/``resource``/
  ``context`` are defaults each item may override (§7.1.1); an absent or empty ``evaluations``
  array behaves like a single evaluation (§7.1); ``options.evaluations_semantic`` selects
  ``execute_all`` | ``deny_on_first_deny`` | ``permit_on_first_permit`` (§7.1.2.1); results come
  back in request order, and an error in one item is that item's ``decision: false`` with the
  error in its ``context`` (§7.2.1), not a failure of the whole payload.
- §10.1.1: a missing required field is a "Bad Request"; unknown fields MUST be ignored.
- §11.5: a member whose value is JSON ``null`` is treated as absent.

Defaults are checked only where an item uses them: the interop Todo backend sends an empty
top-level ``"resource": {}`` that every item overrides, and that must not fail the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

from warden.decisions.errors import InvalidRequest
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome

__all__ = [
    "MAX_EVALUATIONS",
    "MAX_IDENTIFIER_LENGTH",
    "Decide",
    "EvaluationsSemantic",
    "decision_response",
    "error_result",
    "evaluate",
    "evaluate_batch",
    "evaluations_response",
    "is_batch",
    "parse_evaluation",
    "parse_semantic",
]

logger = logging.getLogger(__name__)

MAX_IDENTIFIER_LENGTH = 2048
"""Longest accepted ``type``, ``id`` or action ``name``."""

MAX_EVALUATIONS = 1000
"""Most items accepted in one ``evaluations`` array."""

Decide = Callable[[DecisionRequest], Awaitable[Decision]]
"""The decision pipeline as this module sees it."""

_ENTITY_KEYS = ("subject", "action", "resource", "context")


class EvaluationsSemantic(StrEnum):
    """``options.evaluations_semantic`` (§7.1.2.1)."""

    EXECUTE_ALL = "execute_all"
    DENY_ON_FIRST_DENY = "deny_on_first_deny"
    PERMIT_ON_FIRST_PERMIT = "permit_on_first_permit"

    def stops_after(self, result: Mapping[str, Any]) -> bool:
        """Whether this result short-circuits the rest of the batch."""
        if self is EvaluationsSemantic.DENY_ON_FIRST_DENY:
            return result["decision"] is False
        if self is EvaluationsSemantic.PERMIT_ON_FIRST_PERMIT:
            return result["decision"] is True
        return False


# -- parsing ------------------------------------------------------------------------------------


def parse_evaluation(body: object) -> DecisionRequest:
    """Parse one Access Evaluation request body (§6.1).

    Raises :class:`InvalidRequest` naming the first missing or mistyped field.
    """
    obj = _object(body, "")
    parts = {key: (obj[key], key) for key in _ENTITY_KEYS if obj.get(key) is not None}
    return _request(parts)


def is_batch(body: Mapping[str, Any]) -> bool:
    """Whether an Access Evaluations body carries a non-empty ``evaluations`` array."""
    return bool(_evaluations(body))


def parse_semantic(body: Mapping[str, Any]) -> EvaluationsSemantic:
    """``options.evaluations_semantic``, ``execute_all`` when absent."""
    options = body.get("options")
    if options is None:
        return EvaluationsSemantic.EXECUTE_ALL
    options = _object(options, "options")
    value = options.get("evaluations_semantic")
    if value is None:
        return EvaluationsSemantic.EXECUTE_ALL
    try:
        return EvaluationsSemantic(value)
    except ValueError:
        allowed = ", ".join(f"`{s.value}`" for s in EvaluationsSemantic)
        raise InvalidRequest(
            f"unknown evaluations semantic `{value}`, expected one of {allowed}",
            field="options.evaluations_semantic",
        ) from None


def _evaluations(body: Mapping[str, Any]) -> list[Any]:
    items = body.get("evaluations")
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidRequest("`evaluations` must be an array", field="evaluations")
    if len(items) > MAX_EVALUATIONS:
        raise InvalidRequest(
            f"`evaluations` has {len(items)} items, at most {MAX_EVALUATIONS} are accepted",
            field="evaluations",
        )
    return items


def _item_request(body: Mapping[str, Any], index: int, item: object) -> DecisionRequest:
    """One batch item with the top-level defaults filled in (§7.1.1).

    An item's key replaces the default wholesale; error paths name where the value came from.
    """
    prefix = f"evaluations[{index}]"
    obj = _object(item, prefix)
    parts: dict[str, tuple[Any, str]] = {}
    for key in _ENTITY_KEYS:
        if obj.get(key) is not None:
            parts[key] = (obj[key], f"{prefix}.{key}")
        elif body.get(key) is not None:
            parts[key] = (body[key], key)
    return _request(parts, missing_prefix=prefix)


def _request(parts: Mapping[str, tuple[Any, str]], missing_prefix: str = "") -> DecisionRequest:
    def required(key: str) -> tuple[Any, str]:
        if key not in parts:
            field = f"{missing_prefix}.{key}" if missing_prefix else key
            raise InvalidRequest(f"missing required field `{field}`", field=field)
        return parts[key]

    subject = _entity(*required("subject"))
    action = _action(*required("action"))
    resource = _entity(*required("resource"))
    context_value, context_path = parts.get("context", (None, "context"))
    return DecisionRequest(
        subject=subject,
        action=action,
        resource=resource,
        context=_optional_object(context_value, context_path),
    )


def _entity(value: object, path: str) -> Entity:
    obj = _object(value, path)
    return Entity(
        type=_identifier(obj, "type", path),
        id=_identifier(obj, "id", path),
        properties=_optional_object(obj.get("properties"), f"{path}.properties"),
    )


def _action(value: object, path: str) -> Action:
    obj = _object(value, path)
    return Action(
        name=_identifier(obj, "name", path),
        properties=_optional_object(obj.get("properties"), f"{path}.properties"),
    )


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        if path:
            raise InvalidRequest(f"`{path}` must be an object", field=path)
        raise InvalidRequest("the request body must be a JSON object")
    return value


def _optional_object(value: object, path: str) -> dict[str, Any]:
    """An OPTIONAL object; JSON ``null`` counts as absent. Copied, so requests share nothing."""
    if value is None:
        return {}
    return dict(_object(value, path))


def _identifier(obj: Mapping[str, Any], key: str, path: str) -> str:
    field = f"{path}.{key}"
    if key not in obj:
        raise InvalidRequest(f"missing required field `{field}`", field=field)
    value = obj[key]
    if not isinstance(value, str):
        raise InvalidRequest(f"`{field}` must be a string", field=field)
    if not value:
        raise InvalidRequest(f"`{field}` must not be empty", field=field)
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise InvalidRequest(
            f"`{field}` is longer than {MAX_IDENTIFIER_LENGTH} characters", field=field
        )
    return value


# -- evaluating ---------------------------------------------------------------------------------


async def evaluate(body: object, decide: Decide) -> dict[str, Any]:
    """Answer one Access Evaluation request (§6).

    Raises :class:`InvalidRequest` for a malformed body; whatever ``decide`` raises propagates.
    """
    return decision_response(await decide(parse_evaluation(body)))


async def evaluate_batch(body: object, decide: Decide) -> list[dict[str, Any]]:
    """Answer an Access Evaluations request (§7) as the list of per-item results.

    Results are in request order. Under ``deny_on_first_deny`` / ``permit_on_first_permit``
    the batch stops at the first ``false`` / ``true`` and returns the results so far,
    the deciding one included, as in the spec's examples (§7.1.2.1).

    Raises :class:`InvalidRequest` only for errors of the whole payload (not an object,
    ``evaluations`` or ``options`` malformed) and, when there is no ``evaluations`` array to
    speak of, for errors of the single evaluation the body then is. An item that is malformed,
    or whose ``decide`` raises, becomes a ``decision: false`` result carrying the error.
    """
    obj = _object(body, "")
    semantic = parse_semantic(obj)
    items = _evaluations(obj)
    if not items:
        return [await evaluate(obj, decide)]
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        result = await _evaluate_item(obj, index, item, decide)
        results.append(result)
        if semantic.stops_after(result):
            break
    return results


async def evaluations_response(body: object, decide: Decide) -> dict[str, Any]:
    """The full response body of the Access Evaluations endpoint.

    ``{"evaluations": [...]}`` for a batch; the single Decision when the body has no
    (or an empty) ``evaluations`` array, as §7.1 makes it a plain evaluation.
    """
    results = await evaluate_batch(body, decide)
    assert isinstance(body, dict)  # evaluate_batch has checked it
    if is_batch(body):
        return {"evaluations": results}
    return results[0]


async def _evaluate_item(
    body: Mapping[str, Any], index: int, item: object, decide: Decide
) -> dict[str, Any]:
    try:
        return decision_response(await decide(_item_request(body, index, item)))
    except InvalidRequest as exc:  # from parsing, or a value the pipeline cannot hold
        where = "" if exc.field.startswith("evaluations[") else f"evaluations[{index}]: "
        return error_result(400, where + exc.message)
    except Exception:
        # Fail closed: a pipeline fault on one item denies that item, and only that item.
        logger.exception("decision failed for evaluations[%d]", index)
        return error_result(500, "the decision could not be made")


# -- responses ----------------------------------------------------------------------------------


def decision_response(decision: Decision) -> dict[str, Any]:
    """A Warden decision as an AuthZEN Decision (§5.5): only ``allow`` is ``true``.

    ``step_up`` is ``false`` on the wire; ``context.outcome`` tells a Warden-aware PEP that a
    person's approval could turn it around, and ``context.approval`` which approval to wait
    for (``GET /v1/approvals/{id}/wait``) before sending the same action again with
    ``context.approval`` set to its id.
    """
    context: dict[str, Any] = {
        "outcome": decision.outcome.value,
        "decision_id": decision.decision_id,
        "reasons": [reason.to_dict() for reason in decision.reasons],
        "policy_revision": decision.policy_revision,
    }
    approval = decision.features.get("approval")
    if approval:  # held: the approval to wait for, then to present with the same action
        context["approval"] = dict(approval)
    return {"decision": decision.outcome is Outcome.ALLOW, "context": context}


def error_result(status: int, message: str) -> dict[str, Any]:
    """A failed batch item (§7.2.1): closed, with the error in its context."""
    return {"decision": False, "context": {"error": {"status": status, "message": message}}}
