"""Registering agents and tools. Every change is an audited event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from warden.registry.errors import AgentNotFound, ToolNotFound
from warden.registry.models import Agent, Tool
from warden.registry.specs import AgentSpec, ToolSpec
from warden.registry.store import RegistryStore


class AuditSink(Protocol):
    """Where the registry records its changes (the audit ledger)."""

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class RegistryService:
    """Agents and tools. ``on_change`` is awaited after every write (to refresh caches)."""

    def __init__(
        self,
        store: RegistryStore,
        audit: AuditSink,
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        self._store = store
        self._audit = audit
        self._on_change = on_change

    async def register_agent(self, spec: AgentSpec, *, actor: str, now: datetime) -> Agent:
        agent = Agent(**spec.model_dump(), created_at=now, updated_at=now)
        await self._store.insert_agent(agent)
        await self._audit.record(
            "registry:agent:created", {"actor": actor, "agent": agent.to_dict()}
        )
        await self._on_change()
        return agent

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
