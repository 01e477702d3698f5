"""HTTP routes for the audit ledger: ``/v1/audit``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from warden.access.models import Role
from warden.audit.store import LedgerStore
from warden.audit.verify import verify
from warden.server.auth import AdminAuth


def audit_router(store: LedgerStore, admin: AdminAuth) -> APIRouter:
    """The ledger is for ``admin`` and ``auditor``."""
    readers = Depends(admin.actor(Role.ADMIN, Role.AUDITOR))
    router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[readers])

    @router.get("/entries", summary="Ledger entries: the last `limit`, or those after `after`")
    async def entries(
        limit: int = Query(50, ge=1, le=1000), after: int | None = Query(None, ge=0)
    ) -> dict[str, Any]:
        rows = await (store.scan(after, limit) if after is not None else store.tail(limit))
        return {"entries": [e.to_dict() for e in rows]}

    @router.get("/verify", summary="Verify the hash chain end to end")
    async def verify_chain() -> dict[str, Any]:
        return (await verify(store)).to_dict()

    return router
