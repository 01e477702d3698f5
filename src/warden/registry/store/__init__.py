"""Where the registry keeps agents and tools: a protocol, one module per backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from warden.registry.models import Agent, Tool
from warden.registry.query import AgentPage, AgentQuery


class RegistryStore(Protocol):
    async def insert_agents(self, batch: Sequence[Agent]) -> None:
        """Insert agents and their owners, all or none; raise ``AgentExists`` when an id
        is taken."""

    async def save_agent(self, agent: Agent) -> None:
        """Replace a stored agent's mutable fields and owners (``created_at`` stays)."""

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]: ...

    async def search_agents(self, query: AgentQuery) -> AgentPage: ...

    async def agents_owned_by(self, person: str) -> list[Agent]: ...

    async def record_activity(self, last_active: Mapping[str, datetime]) -> None:
        """Set ``last_active_at`` for the given agents (never moving it backwards)."""

    async def upsert_tool(self, tool: Tool) -> bool:
        """Insert or replace ``tool``; return True when it was new."""

    async def get_tool(self, name: str) -> Tool | None: ...

    async def list_tools(self) -> list[Tool]: ...


__all__ = ["RegistryStore"]
