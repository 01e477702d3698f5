"""What a decision is evaluated against: one immutable snapshot, swapped whole on change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from warden.decisions.entities import EntityGraph
from warden.policy.engine import PreparedPolicies
from warden.registry.entities import RegistrySnapshot
from warden.registry.models import Agent


@dataclass(frozen=True)
class DecisionView:
    """Prepared policies, the registry and the entity graph built from both."""

    policies: PreparedPolicies
    registry: RegistrySnapshot
    graph: EntityGraph

    @classmethod
    def build(cls, policies: PreparedPolicies, registry: RegistrySnapshot) -> DecisionView:
        """Merge the bundle's entities (and the schema's action groups) with the registry's.

        The registry is the live truth for agents and tools; the bundle's richer Team and
        Person records win over the registry's stubs.
        """
        merged: dict[tuple[str, str], Mapping[str, Any]] = {
            _uid(e): e for e in registry.cedar_entities()
        }
        for entity in (*policies.bundle.entities, *policies.action_entities):
            uid = _uid(entity)
            if uid[0] not in ("Agent", "Tool") or uid not in merged:
                merged[uid] = entity
        return cls(policies, registry, EntityGraph(merged.values()))

    def with_agents(self, changed: Sequence[Agent]) -> DecisionView:
        """This view with ``changed`` agents' registry records replaced — at once, without
        re-parsing the entity graph. For status changes: the identity analyser reads the
        status from the registry, so a suspension holds from the next decision; the Cedar
        entity's ``status`` attribute follows with the next full rebuild."""
        agents = dict(self.registry.agents)
        agents.update((a.id, a) for a in changed)
        return DecisionView(self.policies, replace(self.registry, agents=agents), self.graph)

    @property
    def revision(self) -> int:
        return self.policies.revision


def _uid(entity: Mapping[str, Any]) -> tuple[str, str]:
    uid = entity["uid"]
    return (uid["type"], uid["id"])
