"""HTTP routes of behavioural baselines, under ``/v1/baselines``.

- ``GET /v1/baselines/{agent}``: what the agent's baseline holds (``admin`` or ``auditor``);
- ``POST /v1/baselines/{agent}/freeze``, ``/unfreeze``, ``/reset`` ``{reason?}`` (``admin``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from warden.access.models import Role
from warden.behavior.errors import BaselineNotFound, BehaviorError
from warden.behavior.service import BehaviorService
from warden.behavior.specs import BaselineChange
from warden.server.auth import AdminAuth

_STATUS: dict[type[BehaviorError], int] = {BaselineNotFound: 404}

Change = Callable[..., Awaitable[None]]


def baseline_error_response(exc: BehaviorError) -> JSONResponse:
    code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def baseline_router(service: BehaviorService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["baselines"])
    readers = admin.require(Role.ADMIN, Role.AUDITOR)

    def change(action: str, run: Change, summary: str) -> None:
        @router.post(f"/baselines/{{agent:path}}/{action}", summary=summary, name=action)
        async def route(
            agent: str, body: BaselineChange | None = None, actor: str = Depends(admin.actor())
        ) -> dict[str, Any]:
            await run(agent, actor=actor, now=_now(), reason=body.reason if body else "")
            return service.show(agent) if action != "reset" else {"agent": agent, "reset": True}

    change("freeze", service.freeze, "Stop learning an agent's baseline (it still scores)")
    change("unfreeze", service.unfreeze, "Learn an agent's baseline again")
    change("reset", service.reset, "Forget an agent's baseline: it warms up again")

    @router.get(
        "/baselines/{agent:path}",
        summary="What an agent's behavioural baseline holds",
        dependencies=[Depends(readers)],
    )
    async def show(agent: str) -> dict[str, Any]:
        return service.show(agent)

    return router


def _now() -> datetime:
    return datetime.now(UTC)
