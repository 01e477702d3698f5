"""Where the registry keeps agents and tools: a protocol, one module per backend."""

from __future__ import annotations

from typing import Protocol

from warden.registry.models import Agent, Tool


class RegistryStore(Protocol):
    async def insert_agent(self, agent: Agent) -> None:
        """Insert ``agent``; raise ``AgentExists`` when its id is taken."""

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]: ...

    async def upsert_tool(self, tool: Tool) -> bool:
        """Insert or replace ``tool``; return True when it was new."""

    async def get_tool(self, name: str) -> Tool | None: ...

    async def list_tools(self) -> list[Tool]: ...


__all__ = ["RegistryStore"]
