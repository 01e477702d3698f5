"""``/v1/mandates`` (issue, read, revoke) and ``/v1/observations`` (tool results).

A person with any Warden token issues mandates for themselves; an administrator — or an app
holding the admin token or a ``warden:admin`` access token — issues them on a person's
behalf. Observations come from enforcement points (admin credentials) and are checked
against the mandate they name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.access.models import Principal, Role
from warden.mandates.errors import (
    InvalidMandate,
    MandateError,
    MandateForbidden,
    MandateNotFound,
    UnknownProfile,
)
from warden.mandates.service import MandateService, mandate_dict
from warden.mandates.specs import MandateSpec
from warden.server.auth import AdminAuth


class ObservationBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mandate: str = Field(min_length=1, max_length=8192, description="the mandate's Txn-Token")
    agent: str = Field(min_length=1, max_length=2048)
    tool: str = Field(min_length=1, max_length=200)
    result: Any = Field(description="the tool's result, as the agent received it")


def mandate_error_response(exc: MandateError) -> JSONResponse:
    code = 400
    if isinstance(exc, MandateNotFound | UnknownProfile):
        code = 404
    elif isinstance(exc, InvalidMandate | MandateForbidden):
        code = 403
    return JSONResponse(exc.to_dict(), status_code=code)


def mandates_router(service: MandateService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["mandates"])
    anyone = Depends(admin)

    @router.post("/mandates", status_code=status.HTTP_201_CREATED, summary="Issue a mandate")
    async def issue(spec: MandateSpec, principal: Principal = anyone) -> dict[str, Any]:
        _for_themselves_or_admin(principal, spec.person)
        issued = await service.issue(spec, caller=principal.name, now=_now())
        return issued.to_dict()

    @router.get("/mandates/{mandate_id}", summary="One mandate")
    async def get(mandate_id: str, principal: Principal = anyone) -> dict[str, Any]:
        mandate = await service.get(mandate_id)
        if not principal.has(Role.ADMIN, Role.AUDITOR):
            _for_themselves_or_admin(principal, mandate.person)
        return mandate_dict(mandate)

    @router.delete("/mandates/{mandate_id}", summary="Revoke a mandate")
    async def revoke(
        mandate_id: str, reason: str = "revoked", principal: Principal = anyone
    ) -> dict[str, Any]:
        mandate = await service.get(mandate_id)
        _for_themselves_or_admin(principal, mandate.person)
        revoked = await service.revoke(mandate_id, actor=principal.name, reason=reason, now=_now())
        return mandate_dict(revoked)

    @router.post("/observations", summary="Report a tool result (for provenance)")
    async def observe(body: ObservationBody, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        observation = await service.observe(
            body.mandate, agent=body.agent, tool=body.tool, result=body.result, now=_now()
        )
        return observation

    return router


def _for_themselves_or_admin(principal: Principal, person: str) -> None:
    if principal.is_admin or principal.name == person:
        return
    raise MandateForbidden(f"`{principal.name}` may only act for themselves, not for `{person}`")


def _now() -> datetime:
    return datetime.now(UTC)
