"""HTTP routes of the registry: ``/v1/agents`` (inventory, lifecycle, owners), ``/v1/tools``.

Reading needs any role. Registering, changing and moving an agent through its lifecycle
needs ``admin``, or ``owner`` when the caller is one of the agent's owners. Tools are
registered by ``admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, status
from fastapi.responses import JSONResponse

from warden.access.models import Principal, Role
from warden.registry.errors import (
    AgentExists,
    AgentNotFound,
    InvalidTransition,
    NotPermitted,
    RegistryError,
    ToolNotFound,
)
from warden.registry.mcp import tools_from_mcp
from warden.registry.models import AgentStatus, RiskTier
from warden.registry.query import MAX_PAGE, AgentQuery, AgentSort
from warden.registry.service import RegistryService, warnings_for
from warden.registry.specs import AgentSpec, AgentUpdate, StatusChange, ToolSpec
from warden.server.auth import AdminAuth

STATUS = {
    AgentNotFound: 404,
    ToolNotFound: 404,
    AgentExists: 409,
    InvalidTransition: 409,
    NotPermitted: 403,
}


def registry_error_response(exc: RegistryError) -> JSONResponse:
    code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def registry_router(service: RegistryService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["registry"], dependencies=[Depends(admin)])
    managers = admin.require(Role.ADMIN, Role.OWNER)

    async def managed(agent_id: str, principal: Principal) -> None:
        """Refuse an owner who does not own ``agent_id`` (admins manage every agent)."""
        agent = await service.agent(agent_id)
        if not principal.may_manage(agent.owners):
            raise NotPermitted(f"`{principal.name}` is not an owner of agent `{agent_id}`")

    @router.get("/agents", summary="Inventory: filter, search, sort and page the agents")
    async def list_agents(
        owner: str | None = Query(None, description="any of the agent's owners"),
        team: str | None = None,
        agent_status: AgentStatus | None = Query(None, alias="status"),
        risk_tier: RiskTier | None = None,
        q: str | None = Query(None, max_length=200, description="search id, name, purpose"),
        active_since: datetime | None = None,
        inactive_since: datetime | None = None,
        sort: AgentSort = AgentSort.ID,
        desc: bool = False,
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        query = AgentQuery(
            owner=owner,
            team=team,
            status=agent_status,
            risk_tier=risk_tier,
            search=q,
            active_since=_utc(active_since),
            inactive_since=_utc(inactive_since),
            sort=sort,
            descending=desc,
            limit=limit,
            offset=offset,
        )
        return (await service.search(query)).to_dict()

    @router.post("/agents", status_code=status.HTTP_201_CREATED, summary="Register an agent")
    async def register_agent(
        spec: AgentSpec, principal: Principal = Depends(managers)
    ) -> dict[str, Any]:
        if not principal.may_manage((spec.owner, *spec.co_owners)):
            raise NotPermitted(f"`{principal.name}` may only register agents they own")
        agent = await service.register_agent(spec, actor=principal.name, now=_now())
        return {**agent.to_dict(), "warnings": warnings_for(agent)}

    @router.get("/agents/orphaned", summary="Agents suspended because no owner is active")
    async def orphaned() -> dict[str, Any]:
        return {"agents": [a.to_dict() for a in await service.orphaned()]}

    @router.post("/agents/{agent_id:path}/status", summary="Move an agent through its lifecycle")
    async def change_status(
        agent_id: str, change: StatusChange, principal: Principal = Depends(managers)
    ) -> dict[str, Any]:
        await managed(agent_id, principal)
        agent = await service.transition(
            agent_id, change.status, actor=principal.name, reason=change.reason, now=_now()
        )
        return {**agent.to_dict(), "warnings": warnings_for(agent)}

    @router.patch("/agents/{agent_id:path}", summary="Change an agent's details, owners, expiry")
    async def update_agent(
        agent_id: str, update: AgentUpdate, principal: Principal = Depends(managers)
    ) -> dict[str, Any]:
        await managed(agent_id, principal)
        if update.owners is not None and not principal.may_manage(tuple(update.owners)):
            raise NotPermitted("an owner cannot hand an agent over without staying an owner")
        agent = await service.update_agent(agent_id, update, actor=principal.name, now=_now())
        return {**agent.to_dict(), "warnings": warnings_for(agent)}

    @router.get("/agents/{agent_id:path}", summary="One agent")
    async def get_agent(agent_id: str) -> dict[str, Any]:
        agent = await service.agent(agent_id)
        return {**agent.to_dict(), "warnings": warnings_for(agent)}

    @router.get("/tools", summary="List registered tools")
    async def list_tools() -> dict[str, Any]:
        return {"tools": [t.to_dict() for t in await service.tools()]}

    @router.post("/tools", status_code=status.HTTP_201_CREATED, summary="Register or update a tool")
    async def register_tool(spec: ToolSpec, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        tool = await service.register_tool(spec, actor=actor, now=_now())
        return tool.to_dict()

    @router.post("/tools/import", summary="Import tools from an MCP tools/list result")
    async def import_tools(
        document: dict[str, Any] = Body(...), actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        specs = tools_from_mcp(document)  # all validated before any is registered
        imported = await service.register_tools(specs, actor=actor, now=_now())
        return {"tools": [t.to_dict() for t in imported]}

    @router.get("/tools/{name:path}", summary="One tool")
    async def get_tool(name: str) -> dict[str, Any]:
        return (await service.tool(name)).to_dict()

    return router


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
