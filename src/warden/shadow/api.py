"""HTTP routes of shadow agents, under ``/v1/shadow``.

- ``GET /v1/shadow?status=open&limit=&offset=``: sightings, most recently seen first;
- ``GET /v1/shadow/{ref}``: the sightings a sighting id, key or identifier names;
- ``POST /v1/shadow/{ref}/promote`` ``{owner, team, name?}``: register it, ``provisioned``;
- ``POST /v1/shadow/{ref}/block`` ``{reason}``, ``POST /v1/shadow/{ref}/unblock`` ``{reason?}``.

Reading needs ``admin`` or ``auditor``; promoting and blocking need ``admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse

from warden.access.models import Role
from warden.server.auth import AdminAuth
from warden.shadow.errors import NotPromotable, ShadowConflict, ShadowError, SightingNotFound
from warden.shadow.models import Sighting, SightingStatus
from warden.shadow.service import ShadowService
from warden.shadow.specs import Block, Promotion, Unblock

MAX_PAGE = 1000
_STATUS: dict[type[ShadowError], int] = {
    SightingNotFound: 404,
    NotPromotable: 400,
    ShadowConflict: 409,
}


def shadow_error_response(exc: ShadowError) -> JSONResponse:
    code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def shadow_router(service: ShadowService, admin: AdminAuth) -> APIRouter:
    readers = admin.require(Role.ADMIN, Role.AUDITOR)
    router = APIRouter(prefix="/v1/shadow", tags=["shadow"], dependencies=[Depends(readers)])

    @router.get("", summary="Sightings of unregistered or inactive agents, latest first")
    async def list_sightings(
        sighting_status: SightingStatus | None = Query(None, alias="status"),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        page = await service.sightings(sighting_status, limit=limit, offset=offset)
        return page.to_dict()

    @router.post(
        "/{ref:path}/promote",
        status_code=status.HTTP_201_CREATED,
        summary="Register a sighted SPIFFE ID as a provisioned agent",
    )
    async def promote(
        ref: str, body: Promotion, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        agent, sightings = await service.promote(
            ref, owner=body.owner, team=body.team, name=body.name, actor=actor, now=_now()
        )
        return {**_identified(agent.id, sightings), "agent": agent.to_dict()}

    @router.post("/{ref:path}/block", summary="Deny an identifier everywhere until unblocked")
    async def block(ref: str, body: Block, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        identifier, sightings = await service.block(
            ref, reason=body.reason, actor=actor, now=_now()
        )
        return _identified(identifier, sightings)

    @router.post("/{ref:path}/unblock", summary="Lift a block")
    async def unblock(
        ref: str, body: Unblock | None = None, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        reason = body.reason if body else ""
        identifier, sightings = await service.unblock(ref, reason=reason, actor=actor, now=_now())
        return _identified(identifier, sightings)

    @router.get("/{ref:path}", summary="The sightings of one identifier")
    async def show(ref: str) -> dict[str, Any]:
        sightings = await service.find(ref)
        return _identified(sightings[0].identifier, sightings)

    return router


def _identified(identifier: str, sightings: list[Sighting]) -> dict[str, Any]:
    return {"identifier": identifier, "sightings": [s.to_dict() for s in sightings]}


def _now() -> datetime:
    return datetime.now(UTC)
