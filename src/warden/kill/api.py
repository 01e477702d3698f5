"""HTTP routes of the kill switch (``admin``):

- ``POST /v1/kill`` ``{kind, target, reason}``: stop an agent, session, chain (or hop),
  mandate or person on the very next action; returns the kill and what it did;
- ``POST /v1/revive`` ``{kind, target, reason}``: lift a kill (revoked tokens stay revoked);
- ``GET /v1/kills?all=false&limit=``: the active kills (``all``: revived ones too), newest first
  (``admin`` or ``auditor``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.access.models import Role
from warden.kill.errors import InvalidKill, KillError, NotKilled
from warden.kill.models import KillKind
from warden.kill.service import MAX_REASON, KillSwitch
from warden.server.auth import AdminAuth


class KillBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: KillKind
    target: str = Field(min_length=1, max_length=2048, description="the id (or email) to stop")
    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why, for the record")


def kill_error_response(exc: KillError) -> JSONResponse:
    status = 404 if isinstance(exc, NotKilled) else 400 if isinstance(exc, InvalidKill) else 409
    return JSONResponse(exc.to_dict(), status_code=status)


def kill_router(kills: KillSwitch, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["kill switch"])

    @router.post("/kill", summary="Stop an agent, session, chain, mandate or person now")
    async def kill(body: KillBody, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        result = await kills.kill(
            body.kind, body.target, reason=body.reason, actor=actor, now=datetime.now(UTC)
        )
        return result.to_dict()

    @router.post("/revive", summary="Lift a kill (revoked tokens stay revoked)")
    async def revive(body: KillBody, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        result = await kills.revive(
            body.kind, body.target, reason=body.reason, actor=actor, now=datetime.now(UTC)
        )
        return result.to_dict()

    @router.get(
        "/kills",
        summary="Active kills, newest first",
        dependencies=[Depends(admin.require(Role.ADMIN, Role.AUDITOR))],
    )
    async def list_kills(
        every: bool = Query(False, alias="all"), limit: int = Query(100, ge=1, le=1000)
    ) -> dict[str, Any]:
        found = await kills.list(active_only=not every, limit=limit)
        return {"kills": [k.to_dict() for k in found]}

    return router
