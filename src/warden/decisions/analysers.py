"""Feature analysers: each adds one typed block to the context every policy sees.

An analyser is a pure function of (request, view, now). It may also return *findings*:
reasons that push the outcome to deny or step_up regardless of policy (an unknown or
suspended agent is denied before any policy runs). Later capabilities (mandate, session,
chain, drift) register more analysers; the pipeline does not change.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from warden.decisions.models import DecisionRequest, Entity, Outcome, Reason
from warden.policy.values import cedar_entity_type
from warden.registry.models import AgentStatus, ToolAnnotations

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView

AGENT_TYPE = "agent"
TOOL_TYPE = "tool"


@functools.lru_cache(maxsize=1024)
def _cedar_type(authzen_type: str) -> str:
    return cedar_entity_type(authzen_type)


def is_agent(entity: Entity) -> bool:
    """Whether ``entity`` becomes a Cedar ``Agent``: ``agent``, ``Agent``, ``agent_``... all
    do, so every spelling must be judged as an agent (or a suspended agent could slip past
    the identity check under another spelling)."""
    return entity.type == AGENT_TYPE or _cedar_type(entity.type) == "Agent"


def is_tool(entity: Entity) -> bool:
    """Whether ``entity`` becomes a Cedar ``Tool`` (see :func:`is_agent`)."""
    return entity.type == TOOL_TYPE or _cedar_type(entity.type) == "Tool"


@dataclass(frozen=True, slots=True)
class Feature:
    """One context block (``context.<block>``) and the findings that came with it."""

    block: str
    value: Mapping[str, Any]
    findings: tuple[Reason, ...] = ()


class Analyser(Protocol):
    name: str

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        """The block for ``request``, or None when this analyser has nothing to say."""


class IdentityAnalyser:
    """Who is acting: a registered, active agent? Unknown or inactive agents are denied."""

    name = "identity"

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        if not is_agent(request.subject):
            return None
        agent = view.registry.agents.get(request.subject.id)
        if agent is None:
            block = {"registered": False, "status": "unknown", "risk_tier": "unknown"}
            return Feature(self.name, block, (_deny("agent.unknown", request.subject.id),))
        block = {
            "registered": True,
            "status": agent.status.value,
            "risk_tier": agent.risk_tier.value,
        }
        if agent.status is not AgentStatus.ACTIVE:
            why = f" ({agent.status_reason})" if agent.status_reason else ""
            finding = Reason(
                f"agent.{agent.status.value}",
                f"agent `{agent.id}` is {agent.status.value}{why}",
                "analyser",
                Outcome.DENY,
            )
            return Feature(self.name, block, (finding,))
        if agent.expires_at is not None and agent.expired(now):
            # Before housekeeping has suspended it: the expiry holds from its very instant.
            finding = Reason(
                "agent.expired",
                f"agent `{agent.id}` expired at {agent.expires_at.isoformat()}",
                "analyser",
                Outcome.DENY,
            )
            return Feature(self.name, {**block, "status": "expired"}, (finding,))
        return Feature(self.name, block)


class ToolRiskAnalyser:
    """What the action would do, from the tool's annotations.

    An unregistered tool is judged by MCP's defaults: not read-only, destructive, open-world.
    """

    name = "risk"

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        if not is_tool(request.resource):
            return None
        tool = view.registry.tools.get(request.resource.id)
        annotations = tool.annotations if tool else ToolAnnotations()
        block = {"registered": tool is not None, **annotations.to_dict()}
        return Feature(self.name, block)


def _deny(code: str, subject_id: str) -> Reason:
    return Reason(code, f"agent `{subject_id}` is not registered", "analyser", Outcome.DENY)


DEFAULT_ANALYSERS: tuple[Analyser, ...] = (IdentityAnalyser(), ToolRiskAnalyser())
