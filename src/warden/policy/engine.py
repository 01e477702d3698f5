"""Evaluating prepared Cedar policies: allow, deny or step_up, failing closed.

Preparation validates a bundle and parses everything once. Evaluation runs only the policies
that can apply to the request (a *slice*, keyed by action and resource type — and by
resource id when some policy is pinned to that very resource (``resource == Tool::"x"``) —
built on first use and cached). One Cedar call decides: in a slice each ``@outcome("step_up")``
forbid is rewritten as a permit with the same id, so Cedar deny → deny (the forbids that
matched); Cedar allow → step_up if a step-up policy matched, allow if a real permit matched,
and default deny if only step-up policies matched. A forbid that errors denies.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy
import orjson

from warden.decisions.models import Outcome, Reason
from warden.policy._compile import CompiledBundle, CompiledPolicy, compile_bundle
from warden.policy.errors import PolicyValidationError
from warden.policy.models import Bundle, PolicyProblem
from warden.policy.reads import ContextReads

NO_PERMIT = "policy.no_permit"
POLICY_ERROR = "policy.error"
_MAX_SLICES = 4096
_ERRORED = re.compile(r"^error while evaluating policy `(.*?)`: ")

Uid = tuple[str, str]
SliceKey = tuple[str, str, str, str | None]


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """What the policies say about one request."""

    outcome: Outcome
    reasons: tuple[Reason, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Policy:
    """A prepared policy with what slicing and reasons need."""

    compiled: CompiledPolicy
    actions: frozenset[Uid] | None  # None: any action
    resource_type: str | None  # None: any resource type
    resource_id: str | None = None  # set when pinned: ``resource == T::"id"``

    @property
    def code(self) -> str:
        return self.compiled.annotations.get("id") or self.compiled.id

    def reason(self, outcome: Outcome, verb: str) -> Reason:
        message = self.compiled.annotations.get("reason") or f"{verb} by policy `{self.code}`"
        return Reason(self.code, message, "policy", outcome)

    def applies_to(self, key: SliceKey) -> bool:
        action_ok = self.actions is None or (key[0], key[1]) in self.actions
        return (
            action_ok
            and self.resource_type in (None, key[2])
            and self.resource_id in (None, key[3])
        )


@dataclass(frozen=True, slots=True)
class _Slice:
    """The policies that can apply to one kind of request, as one Cedar set in which each
    step-up forbid appears as a *permit* with the same id (see :func:`_allow_or_step_up`)."""

    policies: cedarpy.PolicySet


class PreparedPolicies:
    """A validated bundle, parsed once; :meth:`evaluate` is safe to call from many threads.

    Policies are validated against the bundle's schema here; requests are not (a context
    that lacks what a policy reads makes that policy error, and an erroring forbid denies).
    Action groups come from the entities handle passed to :meth:`evaluate`: build it from
    :attr:`base_entities`, or include :attr:`action_entities` (the schema's actions).
    """

    def __init__(
        self,
        revision: int,
        bundle: Bundle,
        compiled: CompiledBundle,
        *,
        slicing: bool = True,
    ) -> None:
        """Use :meth:`prepare`."""
        self.revision = revision
        self.bundle = bundle
        self.digest = bundle.digest
        self.schema: cedarpy.Schema = compiled.schema
        self.base_entities: cedarpy.Entities = compiled.entities
        self.entity_uids: frozenset[Uid] = frozenset(_uid(e["uid"]) for e in bundle.entities)
        graph = json.loads(str(compiled.entities))
        self.action_entities: tuple[dict[str, Any], ...] = tuple(
            e for e in graph if _is_action(_uid(e["uid"]))
        )
        groups = _action_groups(self.action_entities)
        self._policies = {p.id: _prepare(p, groups, slicing) for p in compiled.policies}
        # Resources some policy is pinned to get slices of their own; all others share one.
        self._pinned: frozenset[Uid] = frozenset(
            (p.resource_type, p.resource_id)
            for p in self._policies.values()
            if p.resource_type is not None and p.resource_id is not None
        )
        # Policy code → what it asks the runtime to do when it determines a decision.
        self._responses: dict[str, frozenset[str]] = {
            p.code: frozenset((p.compiled.annotations.get("respond") or "").split())
            for p in self._policies.values()
            if p.compiled.annotations.get("respond")
        }
        # What of the context the policies read: the pipeline sends Cedar only that.
        self.context_reads = ContextReads.of(p.compiled.est for p in self._policies.values())
        self._compiled = compiled
        self._slicing = slicing
        self._slices: dict[SliceKey, _Slice] = {}
        self._lock = threading.Lock()

    @classmethod
    def prepare(cls, bundle: Bundle, revision: int, *, slicing: bool = True) -> PreparedPolicies:
        """Validate ``bundle`` and prepare it; raise :class:`PolicyValidationError` listing
        every problem. ``slicing=False`` evaluates every policy on every request."""
        compiled, problems = compile_bundle(bundle)
        if compiled is None:
            raise PolicyValidationError(tuple(problems))
        return cls(revision, bundle, compiled, slicing=slicing)

    def for_revision(self, revision: int) -> PreparedPolicies:
        """The same prepared policies under another revision number."""
        return PreparedPolicies(revision, self.bundle, self._compiled, slicing=self._slicing)

    def responses(self, reasons: Iterable[Reason]) -> frozenset[str]:
        """What the policies among ``reasons`` ask the runtime to do (``@respond``)."""
        if not self._responses:
            return frozenset()
        found: frozenset[str] = frozenset()
        for reason in reasons:
            if reason.source == "policy" and reason.code in self._responses:
                found |= self._responses[reason.code]
        return found

    @property
    def policy_ids(self) -> tuple[str, ...]:
        """Stable ids (``<file>#<n>``) of every policy, in bundle order."""
        return tuple(self._policies)

    def evaluate(
        self,
        principal: Mapping[str, str],
        action: Mapping[str, str],
        resource: Mapping[str, str],
        context: Mapping[str, Any],
        entities: cedarpy.Entities,
    ) -> PolicyVerdict:
        """The verdict for one request; ``context`` must already hold Cedar values."""
        try:
            request = {
                "principal": dict(principal),
                "action": dict(action),
                "resource": dict(resource),
                # As text: cedarpy would otherwise encode it with the (slower) json module.
                "context": orjson.dumps(context).decode(),
            }
            return self._decide(request, entities)
        except Exception as exc:  # fail closed: cedarpy or a malformed request
            return _failed(f"policy evaluation failed: {type(exc).__name__}: {exc}")

    def _decide(self, request: dict[str, Any], entities: cedarpy.Entities) -> PolicyVerdict:
        action, resource = request["action"], request["resource"]
        pinned = (resource["type"], resource["id"]) in self._pinned
        key = (action["type"], action["id"], resource["type"], resource["id"] if pinned else None)
        policy_slice = self._slice(key)
        result = cedarpy.is_authorized(request, policy_slice.policies, entities)
        errors = tuple(result.diagnostics.errors)
        if result.decision is cedarpy.Decision.NoDecision:
            return PolicyVerdict(Outcome.DENY, _error_reasons(errors), errors)
        failed = self._failed_forbids(errors)
        matched = [self._policies[i] for i in result.diagnostics.reasons]
        if not result.allowed:  # only forbids determine a Cedar deny
            reasons = tuple(p.reason(Outcome.DENY, "forbidden") for p in matched) + failed
            return (
                PolicyVerdict(Outcome.DENY, reasons, errors)
                if reasons
                else _no_permit(action, resource, errors)
            )
        if failed:
            return PolicyVerdict(Outcome.DENY, failed, errors)
        return _allow_or_step_up(matched, action, resource, errors)

    def _failed_forbids(self, errors: Iterable[str]) -> tuple[Reason, ...]:
        """Reasons for each forbid (step-up ones included) that errored: Cedar skips it,
        Warden denies."""
        failed = []
        for error in errors:
            match = _ERRORED.match(error)
            policy = self._policies.get(match.group(1)) if match else None
            if policy is not None and policy.compiled.effect == "forbid":
                message = f"policy `{policy.code}` failed to evaluate"
                failed.append(Reason(POLICY_ERROR, message, "pipeline", Outcome.DENY))
        return tuple(failed)

    def _slice(self, key: SliceKey) -> _Slice:
        found = self._slices.get(key)
        if found is None:
            found = self._build_slice(key)
            with self._lock:
                if len(self._slices) >= _MAX_SLICES:
                    self._slices.pop(next(iter(self._slices)))
                self._slices[key] = found
        return found

    def _build_slice(self, key: SliceKey) -> _Slice:
        applicable = [p for p in self._policies.values() if p.applies_to(key)]
        return _Slice(_policy_set({p.compiled.id: _as_evaluated(p.compiled) for p in applicable}))


def _prepare(policy: CompiledPolicy, groups: frozenset[Uid], slicing: bool) -> _Policy:
    if not slicing:
        return _Policy(policy, None, None)
    actions = _action_scope(policy.est["action"], groups)
    return _Policy(policy, actions, _resource_type(policy.est), _resource_id(policy.est))


def _action_scope(scope: Mapping[str, Any], groups: frozenset[Uid]) -> frozenset[Uid] | None:
    """The actions a policy can apply to, ``None`` for any (or an action group)."""
    if scope["op"] == "==":
        return frozenset({_uid(scope["entity"])})
    if scope["op"] == "in":
        targets = frozenset(_uid(e) for e in scope.get("entities", [scope.get("entity")]))
        return None if targets & groups else targets
    return None


def _resource_type(est: Mapping[str, Any]) -> str | None:
    scope = est["resource"]
    if scope["op"] == "is":
        return str(scope["entity_type"])
    if scope["op"] == "==" and "entity" in scope:
        return str(scope["entity"]["type"])
    return None


def _resource_id(est: Mapping[str, Any]) -> str | None:
    scope = est["resource"]
    if scope["op"] == "==" and "entity" in scope:
        return str(scope["entity"]["id"])
    return None


def _uid(entity: Mapping[str, Any]) -> Uid:
    return str(entity["type"]), str(entity["id"])


def _is_action(uid: Uid) -> bool:
    return uid[0] == "Action" or uid[0].endswith("::Action")


def _action_groups(actions: Iterable[Mapping[str, Any]]) -> frozenset[Uid]:
    """Actions that other actions are in."""
    return frozenset(_uid(parent) for action in actions for parent in action["parents"])


def _policy_set(policies: Mapping[str, Any]) -> cedarpy.PolicySet:
    body = {"staticPolicies": policies, "templates": {}, "templateLinks": []}
    return cedarpy.PolicySet.from_json_str(json.dumps(body))


def _error_reasons(errors: tuple[str, ...]) -> tuple[Reason, ...]:
    message = errors[0] if errors else "policies could not be evaluated"
    return (Reason(POLICY_ERROR, message, "pipeline", Outcome.DENY),)


def _failed(error: str) -> PolicyVerdict:
    return PolicyVerdict(Outcome.DENY, _error_reasons((error,)), (error,))


def _as_evaluated(policy: CompiledPolicy) -> Mapping[str, Any]:
    """A step-up forbid is evaluated as a permit: it "matches" without vetoing the others."""
    return {**policy.est, "effect": "permit"} if policy.step_up else policy.est


def _allow_or_step_up(
    matched: list[_Policy],
    action: Mapping[str, str],
    resource: Mapping[str, str],
    errors: tuple[str, ...],
) -> PolicyVerdict:
    """A Cedar allow with no forbid: step_up when a step-up policy matched, allow when a real
    permit did, and default deny when only step-up policies matched (nothing permits it)."""
    permits = [p for p in matched if not p.compiled.step_up]
    step_ups = [p for p in matched if p.compiled.step_up]
    if not permits:
        return _no_permit(action, resource, errors)
    if step_ups:
        reasons = tuple(p.reason(Outcome.STEP_UP, "step-up required") for p in step_ups)
        return PolicyVerdict(Outcome.STEP_UP, reasons, errors)
    return PolicyVerdict(
        Outcome.ALLOW, tuple(p.reason(Outcome.ALLOW, "permitted") for p in permits), errors
    )


def _no_permit(
    action: Mapping[str, str], resource: Mapping[str, str], errors: tuple[str, ...]
) -> PolicyVerdict:
    where = f'{resource["type"]}::"{resource["id"]}"'
    message = f"no policy permits `{action['id']}` on `{where}`"
    return PolicyVerdict(
        Outcome.DENY, (Reason(NO_PERMIT, message, "pipeline", Outcome.DENY),), errors
    )


def validate_bundle(bundle: Bundle) -> list[PolicyProblem]:
    """Every problem with ``bundle``; empty when it can be prepared."""
    return compile_bundle(bundle)[1]
