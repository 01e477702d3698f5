"""The registry: agents and tools, the agent lifecycle and owners. Every change is audited.

Lifecycle (``TRANSITIONS``): provisioned → active → suspended → retired, and back from
suspended to active. Each transition records who, when and why. Warden makes some itself:
past its expiry an agent is suspended (``expired``); when none of its owners is active in
the IdP any more it is suspended (``orphaned``) until an owner is reassigned or returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from warden.registry.errors import (
    AgentNotFound,
    InvalidRegistryInput,
    InvalidTransition,
    ToolNotFound,
)
from warden.registry.models import TRANSITIONS, Agent, AgentStatus, StatusReason, Tool
from warden.registry.query import AgentPage, AgentQuery
from warden.registry.specs import AgentSpec, AgentUpdate, ToolSpec
from warden.registry.store import RegistryStore

SYSTEM_ACTOR = "warden"
"""The actor the ledger names for changes Warden makes on its own (expiry, orphaning)."""


class AuditSink(Protocol):
    """Where the registry records its changes (the audit ledger)."""

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class PeopleDirectory(Protocol):
    """Who is still active in the IdP (the SCIM users). Without one, everyone is."""

    async def inactive(self, people: Collection[str]) -> set[str]:
        """Those of ``people`` (emails, lower-case) that are deactivated or deleted."""


class ChangeHook(Protocol):
    """Called after every write. ``status_only`` lists agents whose status alone changed:
    the caches can take those in at once, without a full rebuild first."""

    def __call__(self, *, status_only: Sequence[Agent] = ()) -> Awaitable[None]: ...


class EveryoneActive:
    async def inactive(self, people: Collection[str]) -> set[str]:
        return set()


def warnings_for(agent: Agent) -> list[str]:
    """What an administrator should know about an agent's accountability."""
    found = []
    if len(agent.owners) == 1 and agent.status is not AgentStatus.RETIRED:
        found.append(
            f"agent `{agent.id}` has a single owner; add a co-owner so it is not orphaned "
            "when that person leaves"
        )
    if agent.status is AgentStatus.SUSPENDED and agent.status_reason == StatusReason.ORPHANED:
        found.append(f"agent `{agent.id}` is orphaned: no active owner; reassign it")
    return found


class RegistryService:
    """Agents and tools. ``on_change`` is awaited after every write (to refresh caches)."""

    def __init__(
        self,
        store: RegistryStore,
        audit: AuditSink,
        on_change: ChangeHook,
    ) -> None:
        self._store = store
        self._audit = audit
        self._on_change = on_change
        self.directory: PeopleDirectory = EveryoneActive()

    # -- agents ----------------------------------------------------------------------------

    async def register_agent(self, spec: AgentSpec, *, actor: str, now: datetime) -> Agent:
        [agent] = await self.register_agents([spec], actor=actor, now=now)
        return agent

    async def register_agents(
        self, specs: Sequence[AgentSpec], *, actor: str, now: datetime
    ) -> list[Agent]:
        """Register several agents in one transaction (all or none); caches are rebuilt once."""
        agents = [_new_agent(spec, now) for spec in specs]
        await self._require_an_active_owner(agents)
        await self._store.insert_agents(agents)
        # Appended together: the ledger commits them as one group, in this order.
        await asyncio.gather(
            *(
                self._audit.record(
                    "registry:agent:created", {"actor": actor, "agent": agent.to_dict()}
                )
                for agent in agents
            )
        )
        await self._on_change()
        return agents

    async def _require_an_active_owner(self, agents: Sequence[Agent]) -> None:
        """Refuse an agent none of whose owners is active in the IdP: it would be born
        orphaned, with nobody accountable for it."""
        people = {o for agent in agents for o in agent.owners}
        inactive = await self.directory.inactive(people) if people else set()
        for agent in agents:
            if all(o in inactive for o in agent.owners):
                gone = ", ".join(f"`{o}`" for o in agent.owners)
                raise InvalidRegistryInput(
                    f"agent `{agent.id}` needs an owner who is active in the IdP; "
                    f"{gone} {'is' if len(agent.owners) == 1 else 'are'} deactivated or deleted",
                    field="owner",
                )

    async def transition(
        self, agent_id: str, to: AgentStatus, *, actor: str, reason: str, now: datetime
    ) -> Agent:
        """Move an agent through its lifecycle; refused when ``TRANSITIONS`` forbids it.

        Takes effect on the very next decision: caches are rebuilt before this returns."""
        agent = await self.agent(agent_id)
        if to is agent.status:
            raise InvalidTransition(f"agent `{agent_id}` is already {to.value}")
        if to not in TRANSITIONS[agent.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[agent.status])) or "none"
            raise InvalidTransition(
                f"agent `{agent_id}` cannot go from {agent.status.value} to {to.value} "
                f"(allowed: {allowed})"
            )
        changed = replace(agent, status=to, status_reason=reason, updated_at=now)
        await self._store.save_agent(changed)
        await self._audit.record(
            "registry:agent:status_changed",
            {
                "actor": actor,
                "agent_id": agent_id,
                "from": agent.status.value,
                "to": to.value,
                "reason": reason,
            },
        )
        await self._on_change(status_only=[changed])
        return changed

    async def update_agent(
        self, agent_id: str, update: AgentUpdate, *, actor: str, now: datetime
    ) -> Agent:
        """Change an agent's descriptive fields, owners or expiry.

        An agent suspended as orphaned becomes active again once one of its new owners is
        active in the IdP — that is what reassigning it means."""
        agent = await self.agent(agent_id)
        if agent.status is AgentStatus.RETIRED:
            raise InvalidTransition(f"agent `{agent_id}` is retired and cannot change")
        fields: dict[str, Any] = {
            k: v
            for k, v in {
                "display_name": update.display_name,
                "team": update.team,
                "purpose": update.purpose,
                "risk_tier": update.risk_tier,
                "expires_at": update.expires_at,
            }.items()
            if v is not None
        }
        if update.clear_expiry:
            fields["expires_at"] = None
        if update.owners is not None:
            fields["owner"] = update.owners[0]
            fields["co_owners"] = tuple(update.owners[1:])
        changed = replace(agent, **fields, updated_at=now)
        resume = False
        if _orphaned(agent) and changed.owners != agent.owners:
            inactive = await self.directory.inactive(changed.owners)
            resume = any(o not in inactive for o in changed.owners)
        await self._store.save_agent(changed)
        await self._audit.record(
            "registry:agent:updated",
            {"actor": actor, "agent_id": agent_id, "changes": _changes(agent, changed)},
        )
        if changed.owners != agent.owners:
            await self._audit.record(
                "registry:agent:owners_changed",
                {
                    "actor": actor,
                    "agent_id": agent_id,
                    "from": list(agent.owners),
                    "to": list(changed.owners),
                },
            )
        if resume:
            return await self.transition(
                agent_id, AgentStatus.ACTIVE, actor=actor, reason="reassigned", now=now
            )
        await self._on_change()
        return changed

    async def owner_deactivated(self, person: str, *, actor: str, now: datetime) -> list[Agent]:
        """``person`` left (SCIM ``active: false`` or DELETE): suspend, as orphaned, every
        agent of theirs with no other owner still active in the directory. Returns those.
        Call it after the directory records the person as inactive."""
        person = person.lower()
        orphaned = []
        for agent in await self._store.agents_owned_by(person):
            if agent.status is not AgentStatus.ACTIVE:  # only a running agent is suspended
                continue
            gone = {person, *await self.directory.inactive(agent.owners)}
            if any(o not in gone for o in agent.owners):
                continue
            changed = replace(
                agent,
                status=AgentStatus.SUSPENDED,
                status_reason=StatusReason.ORPHANED.value,
                updated_at=now,
            )
            await self._store.save_agent(changed)
            await self._audit.record(
                "registry:agent:orphaned",
                {
                    "actor": actor,
                    "agent_id": agent.id,
                    "owner": person,
                    "from": agent.status.value,
                    "to": AgentStatus.SUSPENDED.value,
                },
            )
            orphaned.append(changed)
        if orphaned:
            await self._on_change(status_only=orphaned)
        return orphaned

    async def owner_reactivated(self, person: str, *, actor: str, now: datetime) -> list[Agent]:
        """``person`` is active in the IdP again: their orphaned agents resume."""
        resumed = []
        for agent in await self._store.agents_owned_by(person):
            if _orphaned(agent):
                resumed.append(
                    await self.transition(
                        agent.id,
                        AgentStatus.ACTIVE,
                        actor=actor,
                        reason=f"owner {person.lower()} is active again",
                        now=now,
                    )
                )
        return resumed

    async def expire_due(self, now: datetime) -> list[Agent]:
        """Suspend every active agent whose expiry has passed. (A provisioned one cannot act
        anyway, and activating it after its expiry still leaves it denied as expired.)"""
        due = [
            a
            for a in await self._store.list_agents()
            if a.expired(now) and a.status is AgentStatus.ACTIVE
        ]
        return [
            await self.transition(
                a.id,
                AgentStatus.SUSPENDED,
                actor=SYSTEM_ACTOR,
                reason=StatusReason.EXPIRED.value,
                now=now,
            )
            for a in due
        ]

    async def record_activity(self, last_active: Mapping[str, datetime]) -> None:
        """Remember when each agent was last decided about (for the inventory)."""
        await self._store.record_activity(last_active)

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        """Audit a change made elsewhere that concerns the registry (e.g. an OAuth client)."""
        await self._audit.record(event_type, payload)

    async def agent(self, agent_id: str) -> Agent:
        agent = await self._store.get_agent(agent_id)
        if agent is None:
            raise AgentNotFound(f"no agent `{agent_id}` is registered")
        return agent

    async def agents(self) -> list[Agent]:
        return await self._store.list_agents()

    async def search(self, query: AgentQuery) -> AgentPage:
        return await self._store.search_agents(query)

    async def orphaned(self) -> list[Agent]:
        """Agents suspended because no owner of theirs is active any more."""
        return [a for a in await self._store.list_agents() if _orphaned(a)]

    # -- tools -----------------------------------------------------------------------------

    async def register_tool(self, spec: ToolSpec, *, actor: str, now: datetime) -> Tool:
        [tool] = await self.register_tools([spec], actor=actor, now=now)
        return tool

    async def register_tools(
        self, specs: Sequence[ToolSpec], *, actor: str, now: datetime
    ) -> list[Tool]:
        """Register or update several tools; caches are refreshed once at the end."""
        tools = [await self._upsert_tool(spec, actor=actor, now=now) for spec in specs]
        await self._on_change()
        return tools

    async def _upsert_tool(self, spec: ToolSpec, *, actor: str, now: datetime) -> Tool:
        tool = Tool(
            name=spec.name,
            description=spec.description,
            annotations=spec.annotations.to_annotations(),
            input_schema=spec.input_schema,
            created_at=now,
            updated_at=now,
        )
        created = await self._store.upsert_tool(tool)
        event = "registry:tool:created" if created else "registry:tool:updated"
        await self._audit.record(event, {"actor": actor, "tool": tool.to_dict()})
        return tool

    async def tool(self, name: str) -> Tool:
        tool = await self._store.get_tool(name)
        if tool is None:
            raise ToolNotFound(f"no tool `{name}` is registered")
        return tool

    async def tools(self) -> list[Tool]:
        return await self._store.list_tools()


def _new_agent(spec: AgentSpec, now: datetime) -> Agent:
    return Agent(
        id=spec.id,
        display_name=spec.display_name,
        owner=spec.owner,
        team=spec.team,
        status=spec.status,
        risk_tier=spec.risk_tier,
        created_at=now,
        updated_at=now,
        co_owners=tuple(o for o in spec.co_owners if o != spec.owner),
        purpose=spec.purpose,
        expires_at=spec.expires_at,
    )


def _orphaned(agent: Agent) -> bool:
    return (
        agent.status is AgentStatus.SUSPENDED and agent.status_reason == StatusReason.ORPHANED.value
    )


def _changes(before: Agent, after: Agent) -> dict[str, Any]:
    old, new = before.to_dict(), after.to_dict()
    return {
        k: {"from": old[k], "to": new[k]}
        for k in new
        if k not in ("updated_at", "owners") and old.get(k) != new[k]
    }
