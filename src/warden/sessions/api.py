"""HTTP routes of sessions, under ``/v1/sessions``.

- ``GET /v1/sessions?agent=&status=&limit=``: summaries, the most recently active first;
- ``GET /v1/sessions/{id}``: one session: summary, windows and recent actions (tool names,
  outcomes, times, drift scores; never argument values);
- ``POST /v1/sessions/{id}/suspend`` ``{reason}``, ``POST /v1/sessions/{id}/resume`` ``{reason}``.

Reading needs ``admin`` or ``auditor``; suspending and resuming need ``admin``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from warden.access.models import Role
from warden.server.auth import AdminAuth
from warden.sessions.errors import SessionConflict, SessionError, SessionNotFound
from warden.sessions.models import SessionStatus
from warden.sessions.service import SessionService
from warden.sessions.specs import Change

MAX_PAGE = 1000
_STATUS: dict[type[SessionError], int] = {SessionNotFound: 404, SessionConflict: 409}


def session_error_response(exc: SessionError) -> JSONResponse:
    code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def sessions_router(service: SessionService, admin: AdminAuth) -> APIRouter:
    readers = admin.require(Role.ADMIN, Role.AUDITOR)
    router = APIRouter(prefix="/v1", tags=["sessions"])

    @router.get(
        "/sessions",
        summary="Sessions, the most recently active first",
        dependencies=[Depends(readers)],
    )
    async def list_sessions(
        agent: str | None = Query(None, max_length=2048),
        session_status: SessionStatus | None = Query(None, alias="status"),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
    ) -> dict[str, Any]:
        wanted = session_status.value if session_status else None
        sessions = await service.list(agent=agent, status=wanted, limit=limit)
        return {"sessions": sessions}

    @router.get(
        "/sessions/{session_id}",
        summary="One session: summary, windows, recent actions",
        dependencies=[Depends(readers)],
    )
    async def show(session_id: str) -> dict[str, Any]:
        return await service.show(session_id, _now())

    @router.post("/sessions/{session_id}/suspend", summary="Deny every action of a session")
    async def suspend(
        session_id: str, body: Change, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        return await service.suspend(session_id, actor=actor, reason=body.reason, now=_now())

    @router.post("/sessions/{session_id}/resume", summary="Lift a session's suspension")
    async def resume(
        session_id: str, body: Change, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        return await service.resume(session_id, actor=actor, reason=body.reason, now=_now())

    return router


def _now() -> datetime:
    return datetime.now(UTC)
