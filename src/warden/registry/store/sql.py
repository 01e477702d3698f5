"""Registry store on SQLAlchemy Core: the same SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from warden.registry.errors import AgentExists, AgentNotFound
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool, ToolAnnotations
from warden.registry.query import AgentPage, AgentQuery
from warden.store.schema import agent_owners, agents, tools


class SqlRegistryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert_agents(self, batch: Sequence[Agent]) -> None:
        if not batch:
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(agents), [_agent_row(a) for a in batch])
                await conn.execute(insert(agent_owners), [r for a in batch for r in _owner_rows(a)])
        except IntegrityError as exc:
            which = batch[0].id if len(batch) == 1 else "one of these agents"
            raise AgentExists(f"agent `{which}` is already registered") from exc

    async def save_agent(self, agent: Agent) -> None:
        row = {k: v for k, v in _agent_row(agent).items() if k not in ("id", "created_at")}
        async with self._engine.begin() as conn:
            result = await conn.execute(update(agents).where(agents.c.id == agent.id).values(row))
            if result.rowcount == 0:
                raise AgentNotFound(f"no agent `{agent.id}` is registered")
            await conn.execute(delete(agent_owners).where(agent_owners.c.agent_id == agent.id))
            await _write_owners(conn, agent)

    async def get_agent(self, agent_id: str) -> Agent | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(agents).where(agents.c.id == agent_id))).first()
            if row is None:
                return None
            owners = await _owners_of(conn, [agent_id])
        return _agent(row._mapping, owners)

    async def list_agents(self) -> list[Agent]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(agents).order_by(agents.c.id))).all()
            owners = await _owners_of(conn, None)
        return [_agent(r._mapping, owners) for r in rows]

    async def search_agents(self, query: AgentQuery) -> AgentPage:
        where = _filters(query)
        column = agents.c[query.sort.value]
        order: list[Any] = [column.desc() if query.descending else column.asc(), agents.c.id.asc()]
        if query.sort.value == "last_active_at":  # never-active agents sort as oldest
            order.insert(0, column.is_(None).desc() if not query.descending else column.is_(None))
        page = select(agents).where(where).order_by(*order)
        page = page.limit(query.limit).offset(query.offset)
        async with self._engine.connect() as conn:
            total = await conn.execute(select(func.count()).select_from(agents).where(where))
            count = int(total.scalar_one())
            rows = (await conn.execute(page)).all()
            owners = await _owners_of(conn, [r.id for r in rows])
        return AgentPage([_agent(r._mapping, owners) for r in rows], count, query)

    async def agents_owned_by(self, person: str) -> list[Agent]:
        owned = select(agent_owners.c.agent_id).where(agent_owners.c.owner == person.lower())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(agents).where(agents.c.id.in_(owned)))).all()
            owners = await _owners_of(conn, [r.id for r in rows])
        return [_agent(r._mapping, owners) for r in rows]

    async def record_activity(self, last_active: Mapping[str, datetime]) -> None:
        if not last_active:
            return
        async with self._engine.begin() as conn:
            for agent_id, when in last_active.items():
                stamp = when.isoformat()
                await conn.execute(
                    update(agents)
                    .where(
                        agents.c.id == agent_id,
                        or_(agents.c.last_active_at.is_(None), agents.c.last_active_at < stamp),
                    )
                    .values(last_active_at=stamp)
                )

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


def _filters(query: AgentQuery) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    if query.owner:
        owned = select(agent_owners.c.agent_id).where(agent_owners.c.owner == query.owner.lower())
        clauses.append(agents.c.id.in_(owned))
    if query.team:
        clauses.append(agents.c.team == query.team)
    if query.status:
        clauses.append(agents.c.status == query.status.value)
    if query.risk_tier:
        clauses.append(agents.c.risk_tier == query.risk_tier.value)
    if query.search:
        raw = query.search.lower()
        escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        needle = f"%{escaped}%"
        clauses.append(
            or_(
                func.lower(agents.c.id).like(needle, escape="\\"),
                func.lower(agents.c.display_name).like(needle, escape="\\"),
                func.lower(agents.c.purpose).like(needle, escape="\\"),
            )
        )
    if query.active_since:
        clauses.append(agents.c.last_active_at >= query.active_since.isoformat())
    if query.inactive_since:
        stamp = query.inactive_since.isoformat()
        clauses.append(or_(agents.c.last_active_at.is_(None), agents.c.last_active_at < stamp))
    return and_(True, *clauses)


def _owner_rows(agent: Agent) -> list[dict[str, Any]]:
    return [
        {"agent_id": agent.id, "owner": owner, "position": i}
        for i, owner in enumerate(agent.owners)
    ]


async def _write_owners(conn: AsyncConnection, agent: Agent) -> None:
    await conn.execute(insert(agent_owners), _owner_rows(agent))


async def _owners_of(
    conn: AsyncConnection, agent_ids: Sequence[str] | None
) -> dict[str, list[str]]:
    """Co-owners (position > 0) per agent, in order; all agents when ``agent_ids`` is None."""
    query = select(agent_owners).where(agent_owners.c.position > 0)
    if agent_ids is not None:
        if not agent_ids:
            return {}
        query = query.where(agent_owners.c.agent_id.in_(agent_ids))
    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in await conn.execute(query):
        found[row.agent_id].append((row.position, row.owner))
    return {agent: [o for _, o in sorted(owners)] for agent, owners in found.items()}


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
        "purpose": agent.purpose,
        "expires_at": _iso(agent.expires_at),
        "status_reason": agent.status_reason,
        "last_active_at": _iso(agent.last_active_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _agent(row: Any, co_owners: Mapping[str, list[str]]) -> Agent:
    return Agent(
        id=row["id"],
        display_name=row["display_name"],
        owner=row["owner"],
        team=row["team"],
        status=AgentStatus(row["status"]),
        risk_tier=RiskTier(row["risk_tier"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        co_owners=tuple(co_owners.get(row["id"], ())),
        purpose=row["purpose"],
        expires_at=_when(row["expires_at"]),
        status_reason=row["status_reason"],
        last_active_at=_when(row["last_active_at"]),
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
