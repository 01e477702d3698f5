"""Registry store on SQLAlchemy Core: the same SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.registry.errors import AgentExists
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations
from warden.store.schema import agents, tools


class SqlRegistryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert_agent(self, agent: Agent) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(agents).values(**_agent_row(agent)))
        except IntegrityError as exc:
            raise AgentExists(f"agent `{agent.id}` is already registered") from exc

    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(agents).where(agents.c.id == agent_id))).first()
        return _agent(row._mapping) if row else None

    async def list_agents(self) -> list[Agent]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(agents).order_by(agents.c.id))
        return [_agent(r._mapping) for r in rows]

    async def upsert_tool(self, tool: Tool) -> bool:
        row = _tool_row(tool)
        created = await self.get_tool(tool.name) is None  # only labels the audit event
        upsert = _insert_for(self._engine.dialect.name)(tools).values(**row)
        changed = {k: v for k, v in row.items() if k not in ("name", "created_at")}
        async with self._engine.begin() as conn:
            # One statement, no read-then-write: concurrent writers cannot deadlock on it.
            await conn.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=changed))
        return created

    async def get_tool(self, name: str) -> Tool | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tools).where(tools.c.name == name))).first()
        return _tool(row._mapping) if row else None

    async def list_tools(self) -> list[Tool]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(tools).order_by(tools.c.name))
        return [_tool(r._mapping) for r in rows]


def _agent_row(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "display_name": agent.display_name,
        "owner": agent.owner,
        "team": agent.team,
        "status": agent.status.value,
        "risk_tier": agent.risk_tier.value,
        "created_at": agent.created_at.isoformat(),
        "updated_at": agent.updated_at.isoformat(),
    }


def _agent(row: Any) -> Agent:
    return Agent(
        id=row["id"],
        display_name=row["display_name"],
        owner=row["owner"],
        team=row["team"],
        status=AgentStatus(row["status"]),
        risk_tier=RiskTier(row["risk_tier"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _tool_row(tool: Tool) -> dict[str, Any]:
    a = tool.annotations
    return {
        "name": tool.name,
        "description": tool.description,
        "read_only": a.read_only,
        "destructive": a.destructive,
        "external": a.external,
        "labels": orjson.dumps(sorted(a.labels)).decode(),
        "input_schema": None
        if tool.input_schema is None
        else orjson.dumps(tool.input_schema).decode(),
        "created_at": tool.created_at.isoformat(),
        "updated_at": tool.updated_at.isoformat(),
    }


def _tool(row: Any) -> Tool:
    schema = row["input_schema"]
    return Tool(
        name=row["name"],
        description=row["description"],
        annotations=ToolAnnotations(
            read_only=bool(row["read_only"]),
            destructive=bool(row["destructive"]),
            external=bool(row["external"]),
            labels=frozenset(orjson.loads(row["labels"])),
        ),
        input_schema=None if schema is None else orjson.loads(schema),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _insert_for(dialect: str) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_update`` on both backends."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
