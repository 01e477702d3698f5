"""HTTP routes of step-up approvals, under ``/v1/approvals``.

- ``GET /v1/approvals?status=&agent=&limit=``: requests, the newest first;
- ``GET /v1/approvals/{id}``: one request, with the held action and the votes;
- ``POST /v1/approvals/{id}/approve`` and ``/deny`` ``{comment?}``: vote;
- ``GET /v1/approvals/{id}/wait?timeout=``: long-poll for enforcement points; answers as soon
  as the request is decided (or at ``timeout``, at most 60 s, with it still pending).

Reading and waiting need ``admin``, ``auditor`` or ``approver``. Voting is open to ``admin``
and ``approver`` callers at the HTTP layer, but the service admits only the ``approver`` role:
an admin without it gets a 403 saying so (approving is a person's act, not an operator's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from warden.access.models import Principal, Role
from warden.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalForbidden,
    ApprovalNotFound,
)
from warden.approvals.models import ApprovalStatus
from warden.approvals.service import MAX_COMMENT, ApprovalService
from warden.server.auth import AdminAuth

MAX_PAGE = 1000
MAX_WAIT = 60.0
_STATUS: dict[type[ApprovalError], int] = {
    ApprovalNotFound: 404,
    ApprovalForbidden: 403,
    ApprovalConflict: 409,
}


class VoteBody(BaseModel):
    comment: str = Field("", max_length=MAX_COMMENT)


def approval_error_response(exc: ApprovalError) -> JSONResponse:
    code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def approvals_router(service: ApprovalService, admin: AdminAuth) -> APIRouter:
    readers = admin.require(Role.ADMIN, Role.AUDITOR, Role.APPROVER)
    voters = admin.require(Role.APPROVER, Role.ADMIN)
    router = APIRouter(prefix="/v1", tags=["approvals"])

    @router.get(
        "/approvals", summary="Approval requests, the newest first", dependencies=[Depends(readers)]
    )
    async def list_approvals(
        approval_status: ApprovalStatus | None = Query(None, alias="status"),
        agent: str | None = Query(None, max_length=2048),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
    ) -> dict[str, Any]:
        wanted = approval_status.value if approval_status else None
        found = await service.list(status=wanted, agent=agent, limit=limit)
        return {"approvals": [r.to_dict() for r in found]}

    @router.get(
        "/approvals/{approval_id}",
        summary="One approval request: the held action and its votes",
        dependencies=[Depends(readers)],
    )
    async def show(approval_id: str) -> dict[str, Any]:
        return (await service.get(approval_id)).to_dict()

    @router.get(
        "/approvals/{approval_id}/wait",
        summary="Long-poll until the request is decided (for enforcement points)",
        dependencies=[Depends(readers)],
    )
    async def wait(
        approval_id: str, timeout: float = Query(30.0, ge=0.0, le=MAX_WAIT)
    ) -> dict[str, Any]:
        return (await service.wait(approval_id, timeout)).to_dict()

    @router.post("/approvals/{approval_id}/approve", summary="Approve a held action")
    async def approve(
        approval_id: str,
        body: VoteBody | None = Body(None),
        principal: Principal = Depends(voters),
    ) -> dict[str, Any]:
        comment = body.comment if body else ""
        done = await service.vote(approval_id, principal, "approve", comment, now=_now())
        return done.to_dict()

    @router.post("/approvals/{approval_id}/deny", summary="Deny a held action")
    async def deny(
        approval_id: str,
        body: VoteBody | None = Body(None),
        principal: Principal = Depends(voters),
    ) -> dict[str, Any]:
        comment = body.comment if body else ""
        done = await service.vote(approval_id, principal, "deny", comment, now=_now())
        return done.to_dict()

    return router


def _now() -> datetime:
    return datetime.now(UTC)
