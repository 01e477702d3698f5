"""The registry as Cedar entities: agents, their teams and owners, tools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from warden.registry.models import Agent, Tool


@dataclass(frozen=True)
class RegistrySnapshot:
    """An immutable view of the registry, swapped whole when the registry changes."""

    agents: Mapping[str, Agent] = field(default_factory=dict)
    tools: Mapping[str, Tool] = field(default_factory=dict)

    @classmethod
    def of(cls, agents: Iterable[Agent], tools: Iterable[Tool]) -> RegistrySnapshot:
        return cls({a.id: a for a in agents}, {t.name: t for t in tools})

    def cedar_entities(self) -> list[dict[str, Any]]:
        """Agents (in their Team), Persons (owners), Teams and Tools as Cedar JSON entities."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for agent in self.agents.values():
            out[("Team", agent.team)] = _entity("Team", agent.team, {})
            out[("Person", agent.owner)] = _entity("Person", agent.owner, {"email": agent.owner})
            out[("Agent", agent.id)] = _agent_entity(agent)
        for tool in self.tools.values():
            out[("Tool", tool.name)] = _tool_entity(tool)
        return list(out.values())


def _entity(
    type_: str, id_: str, attrs: dict[str, Any], parents: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"uid": {"type": type_, "id": id_}, "attrs": attrs, "parents": parents or []}


def _agent_entity(agent: Agent) -> dict[str, Any]:
    team = {"type": "Team", "id": agent.team}
    attrs = {
        "display_name": agent.display_name,
        "owner": {"__entity": {"type": "Person", "id": agent.owner}},
        "team": {"__entity": team},
        "status": agent.status.value,
        "risk_tier": agent.risk_tier.value,
    }
    return _entity("Agent", agent.id, attrs, [team])


def _tool_entity(tool: Tool) -> dict[str, Any]:
    a = tool.annotations
    attrs = {
        "description": tool.description,
        "read_only": a.read_only,
        "destructive": a.destructive,
        "external": a.external,
        "labels": sorted(a.labels),
    }
    return _entity("Tool", tool.name, attrs)
