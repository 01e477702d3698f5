"""HTTP routes of the registry: ``/v1/agents`` and ``/v1/tools``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, status
from fastapi.responses import JSONResponse

from warden.registry.errors import AgentExists, AgentNotFound, RegistryError, ToolNotFound
from warden.registry.mcp import tools_from_mcp
from warden.registry.service import RegistryService
from warden.registry.specs import AgentSpec, ToolSpec

STATUS = {AgentNotFound: 404, ToolNotFound: 404, AgentExists: 409}


def registry_error_response(exc: RegistryError) -> JSONResponse:
    code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def registry_router(service: RegistryService, admin: Any) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["registry"], dependencies=[Depends(admin)])

    @router.get("/agents", summary="List registered agents")
    async def list_agents() -> dict[str, Any]:
        return {"agents": [a.to_dict() for a in await service.agents()]}

    @router.post("/agents", status_code=status.HTTP_201_CREATED, summary="Register an agent")
    async def register_agent(spec: AgentSpec, actor: str = Depends(admin)) -> dict[str, Any]:
        agent = await service.register_agent(spec, actor=actor, now=datetime.now(UTC))
        return agent.to_dict()

    @router.get("/agents/{agent_id:path}", summary="One agent")
    async def get_agent(agent_id: str) -> dict[str, Any]:
        return (await service.agent(agent_id)).to_dict()

    @router.get("/tools", summary="List registered tools")
    async def list_tools() -> dict[str, Any]:
        return {"tools": [t.to_dict() for t in await service.tools()]}

    @router.post("/tools", status_code=status.HTTP_201_CREATED, summary="Register or update a tool")
    async def register_tool(spec: ToolSpec, actor: str = Depends(admin)) -> dict[str, Any]:
        tool = await service.register_tool(spec, actor=actor, now=datetime.now(UTC))
        return tool.to_dict()

    @router.post("/tools/import", summary="Import tools from an MCP tools/list result")
    async def import_tools(
        document: dict[str, Any] = Body(...), actor: str = Depends(admin)
    ) -> dict[str, Any]:
        specs = tools_from_mcp(document)  # all validated before any is registered
        imported = await service.register_tools(specs, actor=actor, now=datetime.now(UTC))
        return {"tools": [t.to_dict() for t in imported]}

    @router.get("/tools/{name:path}", summary="One tool")
    async def get_tool(name: str) -> dict[str, Any]:
        return (await service.tool(name)).to_dict()

    return router
