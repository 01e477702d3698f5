"""Grants as Cedar: one ``permit`` per grant in force, merged with the active bundle.

A grant of ``invoke`` on ``Tool::"erp.read"`` to agent ``A``, expiring at ``T``, becomes
(written as text; it is built directly as Cedar's JSON form)::

    @id("entitlement:<grant id>")
    @reason("permitted by entitlement `<grant id>`, granted by `<who>`: <justification>")
    permit(principal == Agent::"A", action == Action::"invoke", resource == Tool::"erp.read")
    when { context.entitlements.now_us < <T in microseconds since the epoch> };

``resource_id`` ``*`` becomes ``resource is Tool``. The permits join the bundle's policies in
one Cedar evaluation, so the bundle's forbids (and step-up forbids) still win, and a decision's
reasons name the grant that permitted it (its ``@id``).

Expiry holds from its very instant, with no rebuild: ``now`` is not something Cedar knows, so
:class:`GrantClock` puts the decision's clock into ``context.entitlements.now_us`` for every
agent that holds an expiring grant — which also means a client can never supply that value
for such an agent. Grants do not help an agent that is not active: the identity analyser
denies before any policy runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from warden.decisions.analysers import Feature
from warden.decisions.models import DecisionRequest
from warden.entitlements.models import Entitlement
from warden.policy._compile import CompiledBundle, CompiledPolicy
from warden.policy.engine import PreparedPolicies
from warden.policy.values import cedar_entity_type

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView

POLICY_PREFIX = "entitlement:"
"""A grant's policy id (and so the reason code of a decision it permits) is this plus its id."""
CLOCK_BLOCK = "entitlements"
CLOCK_ATTRIBUTE = "now_us"
POLICY_FILE = "entitlements"
ANY_RESOURCE = "*"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(when: datetime) -> int:
    """``when`` as whole microseconds since the Unix epoch (exact, unlike ``timestamp()``)."""
    return (when - _EPOCH) // _MICROSECOND


def policy_id(grant_id: str) -> str:
    return POLICY_PREFIX + grant_id


class EntitledPolicies(PreparedPolicies):
    """A bundle's prepared policies plus one permit per grant, under the bundle's revision.

    Build it with :func:`with_grants`, off the event loop for large sets (~10 µs per grant,
    plus re-reading the bundle's entities)."""

    def __init__(self, base: PreparedPolicies, grants: Sequence[Entitlement]) -> None:
        # The base's compiled bundle is reused as is: its policies were validated when the
        # revision was applied, and the grants' policies are built correct by construction.
        compiled = base._compiled
        merged = CompiledBundle(
            (*compiled.policies, *(grant_policy(g) for g in grants)),
            compiled.schema,
            compiled.entities,
        )
        super().__init__(base.revision, base.bundle, merged, slicing=base._slicing)
        self.base = base
        self.grants: Mapping[str, Entitlement] = {g.id: g for g in grants}
        self.expiring: frozenset[str] = frozenset(g.agent_id for g in grants if g.expires_at)
        """Agents holding a grant that expires: their decisions carry the clock."""
        self.next_expiry: datetime | None = min(
            (g.expires_at for g in grants if g.expires_at), default=None
        )


def with_grants(base: PreparedPolicies, grants: Iterable[Entitlement]) -> PreparedPolicies:
    """``base`` plus ``grants`` as permits; ``base`` itself when there are none."""
    grants = tuple(grants)
    return EntitledPolicies(base, grants) if grants else base


def grant_policy(grant: Entitlement) -> CompiledPolicy:
    """The grant as a validated-by-construction Cedar policy (its JSON form)."""
    annotations = _annotations(grant)
    est = {
        "effect": "permit",
        "principal": {"op": "==", "entity": {"type": "Agent", "id": grant.agent_id}},
        "action": {"op": "==", "entity": {"type": "Action", "id": grant.action}},
        "resource": _resource_scope(grant),
        "conditions": _conditions(grant),
        "annotations": annotations,
    }
    return CompiledPolicy(policy_id(grant.id), POLICY_FILE, "permit", est, dict(annotations))


def cedar_text(grant: Entitlement) -> str:
    """The policy :func:`grant_policy` builds, as Cedar text (for people to read)."""
    if grant.resource_id == ANY_RESOURCE:
        resource = f"resource is {grant.resource_type}"
    else:
        resource = f"resource == {grant.resource_type}::{_quoted(grant.resource_id)}"
    lines = [
        f"@id({_quoted(policy_id(grant.id))})",
        f"@reason({_quoted(_reason(grant))})",
        f"permit(principal == Agent::{_quoted(grant.agent_id)}, "
        f"action == Action::{_quoted(grant.action)}, {resource})",
    ]
    if grant.expires_at is not None:
        when = micros(grant.expires_at)
        lines.append(f"when {{ context.{CLOCK_BLOCK}.{CLOCK_ATTRIBUTE} < {when} }}")
    return "\n".join(lines) + ";"


class GrantClock:
    """Puts the decision's clock where expiring grants read it (``context.entitlements``).

    Only for an agent holding an expiring grant in the view being evaluated, so other
    decisions (and their ledger entries) are unchanged."""

    name = CLOCK_BLOCK

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        policies = view.policies
        if not isinstance(policies, EntitledPolicies):
            return None
        if request.subject.id not in policies.expiring:
            return None
        if cedar_entity_type(request.subject.type) != "Agent":
            return None
        return Feature(CLOCK_BLOCK, {CLOCK_ATTRIBUTE: micros(now)})


def _resource_scope(grant: Entitlement) -> dict[str, Any]:
    if grant.resource_id == ANY_RESOURCE:
        return {"op": "is", "entity_type": grant.resource_type}
    return {"op": "==", "entity": {"type": grant.resource_type, "id": grant.resource_id}}


def _conditions(grant: Entitlement) -> list[dict[str, Any]]:
    if grant.expires_at is None:
        return []
    clock = _attr(_attr({"Var": "context"}, CLOCK_BLOCK), CLOCK_ATTRIBUTE)
    before = {"<": {"left": clock, "right": {"Value": micros(grant.expires_at)}}}
    return [{"kind": "when", "body": before}]


def _attr(left: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {".": {"left": left, "attr": name}}


def _annotations(grant: Entitlement) -> dict[str, str]:
    return {"id": policy_id(grant.id), "reason": _reason(grant)}


def _reason(grant: Entitlement) -> str:
    return (
        f"permitted by entitlement `{grant.id}`, granted by `{grant.granted_by}`: "
        f"{grant.justification}"
    )


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
