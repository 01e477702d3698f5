"""Where sightings come from: thin adapters from each surface to :meth:`ShadowService.record`.

- decisions (:func:`sight_decision`): a decision about an ``agent`` subject denied because the
  agent is unknown, provisioned, suspended, retired, expired or blocked;
- the token endpoint (:func:`token_refusals`): unknown client ids, and clients whose agent is
  unknown, not active or blocked (a :class:`~warden.tokens.endpoint.Refusal`);
- the MCP gateway (a later issue) calls :meth:`ShadowService.record` itself.

All of them only touch memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from warden.decisions.analysers import is_agent, is_tool
from warden.decisions.models import Decision, DecisionRequest, Entity
from warden.shadow.models import Observation, SightingKind, Surface
from warden.shadow.service import ShadowService
from warden.tokens.endpoint import Refusal, RefusalHook

INACTIVE = {
    "agent.provisioned": "provisioned",
    "agent.suspended": "suspended",
    "agent.retired": "retired",
    "agent.expired": "expired",
}
"""Reason codes of a registered agent that may not act, and the status each means."""
SIGHTED = frozenset({"agent.unknown", "agent.blocked", *INACTIVE})
"""Decision reason codes that make a sighting."""

HUMAN_KEYS = ("user", "human", "on_behalf_of", "act")
"""Context fields that may name the person an agent acts for: a string, or an object with
``sub``, ``email`` or ``id`` (e.g. a token's ``act`` claim)."""
_MAX_HUMAN = 320


def sight_decision(
    shadow: ShadowService, request: DecisionRequest, decision: Decision, *, where: str
) -> None:
    """Record ``decision``'s subject if it was denied for not being an active agent."""
    seen = observed(request, decision, where=where)
    if seen is not None:
        shadow.observe(seen)


def observed(request: DecisionRequest, decision: Decision, *, where: str) -> Observation | None:
    """The sighting a decision makes: its ``agent`` subject, when denied for being unknown,
    inactive or blocked; None otherwise."""
    if not is_agent(request.subject):
        return None
    codes = [r.code for r in decision.reasons if r.code in SIGHTED]
    if not codes:
        return None
    return Observation(
        SightingKind.SUBJECT,
        request.subject.id,
        where,
        decision.decided_at,
        tool=tried(request.resource),
        human=human_of(request.context),
        registry_status=_registry_status(codes),
        decision_id=decision.decision_id,
    )


def _registry_status(codes: list[str]) -> str | None:
    """None for an unknown agent; else its status (``active`` when only blocked)."""
    if "agent.unknown" in codes:
        return None
    return next((INACTIVE[c] for c in codes if c in INACTIVE), "active")


def tried(resource: Entity) -> str:
    """A tool by its name, any other resource as ``<type>:<id>``."""
    return resource.id if is_tool(resource) else f"{resource.type}:{resource.id}"


def human_of(context: Mapping[str, Any]) -> str | None:
    """The person a request says the agent acts for, if it says so (see ``HUMAN_KEYS``)."""
    for key in HUMAN_KEYS:
        value = context.get(key)
        if isinstance(value, Mapping):
            value = value.get("sub") or value.get("email") or value.get("id")
        if isinstance(value, str) and value.strip():
            return value.strip()[:_MAX_HUMAN]
    return None


def token_refusals(
    shadow: ShadowService, clock: Callable[[], datetime] | None = None
) -> RefusalHook:
    """The token endpoint's ``on_refused`` hook: each refusal becomes a sighting.

    A SPIFFE ID that authenticated (or tried to) with a client assertion is a ``spiffe``
    sighting; any other client id an ``oauth_client`` one. What it asked for (``resource``
    indicators, ``scope:<scope>``) is kept as what it tried."""

    def refused(refusal: Refusal) -> None:
        spiffe = refusal.assertion and refusal.client_id.startswith("spiffe://")
        kind = SightingKind.SPIFFE if spiffe else SightingKind.OAUTH_CLIENT
        shadow.record(
            kind,
            refusal.client_id,
            where=Surface.TOKEN_ENDPOINT,
            tool=[*refusal.resources, *(f"scope:{s}" for s in refusal.scope)],
            registry_status=refusal.agent_status,
            now=clock() if clock else None,
        )

    return refused
