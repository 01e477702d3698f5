"""The decision pipeline (DESIGN.md): identity → features → Cedar policy → outcome.

``evaluate`` is a pure function of (view, analysers, request, now, decision_id): the clock
is passed in, never read, so a recorded decision can be replayed exactly. It never raises
for a well-formed request and never allows because something broke: an analyser or policy
error is a deny with a reason saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from warden.decisions.analysers import Analyser, Feature
from warden.decisions.errors import InvalidRequest
from warden.decisions.models import Decision, DecisionRequest, Entity, Outcome, Reason
from warden.decisions.view import DecisionView
from warden.policy.errors import InvalidValue
from warden.policy.values import cedar_entity, cedar_entity_type, to_cedar_value

# Context blocks only Warden writes; a client's values for these names are dropped.
RESERVED_BLOCKS = frozenset(
    {"identity", "risk", "mandate", "session", "chain", "drift", "kill", "approval"}
)


def evaluate(
    view: DecisionView,
    analysers: Sequence[Analyser],
    request: DecisionRequest,
    now: datetime,
    decision_id: str,
) -> Decision:
    """Decide ``request``. Raises ``InvalidRequest`` only for values Cedar cannot hold."""
    features, findings, errors = _run_analysers(view, analysers, request, now)
    blocks = {f.block: f.value for f in features}
    if any(f.outcome is Outcome.DENY for f in findings):
        return _decision(view, Outcome.DENY, findings, errors, decision_id, now, blocks)
    context = _cedar_context(request.context, view.policies.context_reads.prune(blocks))
    principal, resource, entities = _cedar_entities(view, request)
    action = {"type": "Action", "id": request.action.name}
    verdict = view.policies.evaluate(principal, action, resource, context, entities)
    outcome = Outcome.strictest([verdict.outcome, *(f.outcome for f in findings)])
    reasons = [*findings, *verdict.reasons]
    return _decision(view, outcome, reasons, [*errors, *verdict.errors], decision_id, now, blocks)


def _run_analysers(
    view: DecisionView, analysers: Sequence[Analyser], request: DecisionRequest, now: datetime
) -> tuple[list[Feature], list[Reason], list[str]]:
    features: list[Feature] = []
    findings: list[Reason] = []
    errors: list[str] = []
    for analyser in analysers:
        try:
            feature = analyser.analyse(request, view, now)
        except Exception as exc:  # fail closed: a broken analyser denies
            errors.append(f"analyser `{analyser.name}` failed: {type(exc).__name__}")
            message = f"analyser `{analyser.name}` could not judge this action"
            findings.append(Reason("analyser.error", message, "pipeline", Outcome.DENY))
            continue
        if feature is not None:
            features.append(feature)
            findings.extend(feature.findings)
    return features, findings, errors


def _cedar_context(client: Mapping[str, Any], blocks: Mapping[str, Any]) -> dict[str, Any]:
    """The Cedar context: the client's keys (Warden's reserved ones dropped), then Warden's
    blocks (as far as the policies read them: see :mod:`warden.policy.reads`)."""
    context: dict[str, Any] = {}
    for key, value in client.items():
        if key in RESERVED_BLOCKS or value is None:
            continue
        context[key] = _value(value, f"context.{key}")
    context.update(blocks)
    return context


def _cedar_entities(
    view: DecisionView, request: DecisionRequest
) -> tuple[dict[str, str], dict[str, str], Any]:
    """Cedar uids for subject and resource, and the entity handle to evaluate against.

    A known entity's data comes from Warden (registry or bundle); request properties are
    ignored for it, so a client cannot rewrite an agent's status or a tool's risk.
    """
    extra: list[dict[str, Any]] = []
    known: list[tuple[str, str]] = []
    uids: list[tuple[str, str]] = []
    for role, entity in (("subject", request.subject), ("resource", request.resource)):
        uid = (cedar_entity_type(entity.type), entity.id)
        if uid in view.graph:
            known.append(uid)
        elif entity.properties and uid not in uids:  # subject and resource may be one entity
            extra.append(_request_entity(uid, entity, role))
        uids.append(uid)
    handle = view.graph.with_request_entities(extra, known) if extra else view.graph.handle
    (p_type, p_id), (r_type, r_id) = uids
    return {"type": p_type, "id": p_id}, {"type": r_type, "id": r_id}, handle


def _request_entity(uid: tuple[str, str], entity: Entity, role: str) -> dict[str, Any]:
    attrs = _value(dict(entity.properties), f"{role}.properties")
    return cedar_entity(uid[0], uid[1], attrs)


def _value(value: Any, path: str) -> Any:
    try:
        return to_cedar_value(value, path)
    except InvalidValue as exc:
        raise InvalidRequest(exc.message, field=exc.path) from exc


def _decision(
    view: DecisionView,
    outcome: Outcome,
    reasons: Sequence[Reason],
    errors: Sequence[str],
    decision_id: str,
    now: datetime,
    blocks: Mapping[str, Any],
) -> Decision:
    if not reasons and outcome is not Outcome.ALLOW:
        reasons = [Reason("policy.no_permit", "no policy permits this action", "pipeline", outcome)]
    return Decision(
        outcome=outcome,
        reasons=tuple(reasons),
        errors=tuple(errors),
        policy_revision=view.revision,
        decision_id=decision_id,
        decided_at=now,
        features=blocks,
    )
