"""HTTP routes of entitlements: ``/v1/agents/{id}/entitlements``, ``/v1/entitlements``.

Reading needs any role. Granting and revoking need ``admin``, or ``owner`` of that agent.
Right-sizing's prune and restore need ``admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from warden.access.models import Principal, Role
from warden.entitlements.errors import (
    AgentNotEntitled,
    DuplicateEntitlement,
    EntitlementError,
    EntitlementNotFound,
    EntitlementStateError,
    NotPermitted,
    TemplateNotFound,
)
from warden.entitlements.models import Entitlement, GrantState
from warden.entitlements.service import MAX_DAYS, Agents, EntitlementService
from warden.entitlements.specs import DEFAULT_ACTION, DEFAULT_RESOURCE_TYPE
from warden.entitlements.templates import Template, packaged, packaged_template, parse
from warden.server.auth import AdminAuth

STATUS = {
    EntitlementNotFound: 404,
    TemplateNotFound: 404,
    DuplicateEntitlement: 409,
    EntitlementStateError: 409,
    AgentNotEntitled: 409,
    NotPermitted: 403,
}
_MAX_TEMPLATE = 100_000


class GrantRequest(BaseModel):
    """A grant: ``action`` on ``resource_type``/``resource_id`` (``*``: every one), and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = Field(default=DEFAULT_ACTION, max_length=200)
    resource_type: str = Field(default=DEFAULT_RESOURCE_TYPE, max_length=200)
    resource_id: str = Field(max_length=2048, description="e.g. a tool's name, or `*`")
    justification: str = Field(max_length=1000, description="why the agent needs it")
    expires_at: datetime | None = Field(default=None, description="stops permitting then")


class TemplateRequest(BaseModel):
    """A packaged template by name, or a custom template's YAML text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = Field(default=None, max_length=100)
    yaml: str | None = Field(default=None, max_length=_MAX_TEMPLATE)
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _one(self) -> TemplateRequest:
        if (self.template is None) == (self.yaml is None):
            raise ValueError("give `template` (a packaged template's name) or `yaml`")
        return self


class PruneRequest(BaseModel):
    """Grants to prune: by id, or every grant unused for ``days`` days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ids: list[str] | None = Field(default=None, max_length=10_000)
    days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    reason: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> PruneRequest:
        if (self.ids is None) == (self.days is None):
            raise ValueError("give `ids` or `days`")
        return self


def entitlement_error_response(exc: EntitlementError) -> JSONResponse:
    code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def entitlement_router(service: EntitlementService, agents: Agents, admin: AdminAuth) -> APIRouter:
    """Include before the registry's router: its ``/v1/agents/{id}`` would match first."""
    router = APIRouter(prefix="/v1", tags=["entitlements"], dependencies=[Depends(admin)])
    managers = admin.require(Role.ADMIN, Role.OWNER)

    async def managed(agent_id: str, principal: Principal) -> None:
        agent = await agents.agent(agent_id)
        if not principal.may_manage(agent.owners):
            raise NotPermitted(f"`{principal.name}` is not an owner of agent `{agent_id}`")

    @router.get("/entitlements", summary="Grants, of one agent and/or in one state")
    async def list_all(
        agent: str | None = Query(None, description="an agent's SPIFFE ID"),
        state: GrantState | None = None,
    ) -> dict[str, Any]:
        return _listing(await service.list(agent_id=agent, state=state))

    @router.get("/entitlements/templates", summary="Packaged provisioning templates")
    async def templates() -> dict[str, Any]:
        return {"templates": [t.to_dict() for t in packaged()]}

    @router.get("/entitlements/unused", summary="Right-sizing: grants unused for N days")
    async def unused(days: int = Query(30, ge=1, le=MAX_DAYS)) -> dict[str, Any]:
        return (await service.unused(days, now=_now())).to_dict()

    @router.post("/entitlements/prune", summary="Right-sizing: prune grants (reversible)")
    async def prune(body: PruneRequest, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        now = _now()
        if body.days is not None:
            ids = [g.id for g in (await service.unused(body.days, now=now)).unused]
            reason = body.reason or f"unused for {body.days} days"
        else:
            ids, reason = body.ids or [], body.reason or "unused"
        pruned = await service.prune(ids, actor=actor, reason=reason, now=now)
        return {"pruned": [g.to_dict() for g in pruned]}

    @router.post("/entitlements/{grant_id}/restore", summary="Restore a pruned grant")
    async def restore(grant_id: str, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        return _out(await service.restore(grant_id, actor=actor, now=_now()))

    @router.get("/entitlements/{grant_id}", summary="One grant")
    async def get(grant_id: str) -> dict[str, Any]:
        return _out(await service.get(grant_id))

    @router.delete("/entitlements/{grant_id}", summary="Revoke a grant")
    async def revoke(
        grant_id: str,
        reason: str = Query(..., min_length=1, max_length=1000, description="why, for the audit"),
        principal: Principal = Depends(managers),
    ) -> dict[str, Any]:
        grant = await service.get(grant_id)
        await managed(grant.agent_id, principal)
        revoked = await service.revoke(grant_id, actor=principal.name, reason=reason, now=_now())
        return _out(revoked)

    @router.get("/agents/{agent_id:path}/entitlements", summary="An agent's grants")
    async def of_agent(agent_id: str, state: GrantState | None = None) -> dict[str, Any]:
        await agents.agent(agent_id)  # 404 for an unknown agent, not an empty list
        return _listing(await service.list(agent_id=agent_id, state=state))

    @router.post(
        "/agents/{agent_id:path}/entitlements/template",
        status_code=status.HTTP_201_CREATED,
        summary="Grant a provisioning template's set",
    )
    async def apply_template(
        agent_id: str, body: TemplateRequest, principal: Principal = Depends(managers)
    ) -> dict[str, Any]:
        await managed(agent_id, principal)
        template = _template(body)
        result = await service.apply_template(
            agent_id, template, actor=principal.name, now=_now(), expires_at=body.expires_at
        )
        return result.to_dict()

    @router.post(
        "/agents/{agent_id:path}/entitlements",
        status_code=status.HTTP_201_CREATED,
        summary="Grant an agent an action on a resource",
    )
    async def grant(
        agent_id: str, body: GrantRequest, principal: Principal = Depends(managers)
    ) -> dict[str, Any]:
        await managed(agent_id, principal)
        granted = await service.grant(
            agent_id,
            body.action,
            body.resource_type,
            body.resource_id,
            justification=body.justification,
            actor=principal.name,
            now=_now(),
            expires_at=body.expires_at,
        )
        return _out(granted)

    return router


def _template(body: TemplateRequest) -> Template:
    if body.template is not None:
        return packaged_template(body.template)
    return parse(body.yaml or "", "template")


def _out(grant: Entitlement) -> dict[str, Any]:
    return {**grant.to_dict(), "in_force": grant.in_force(_now())}


def _listing(grants: list[Entitlement]) -> dict[str, Any]:
    now = _now()
    return {"entitlements": [{**g.to_dict(), "in_force": g.in_force(now)} for g in grants]}


def _now() -> datetime:
    return datetime.now(UTC)
