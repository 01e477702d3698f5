"""HTTP routes for the audit ledger: ``/v1/audit``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from warden.audit.models import LedgerEntry
from warden.audit.store import LedgerStore
from warden.audit.verify import verify


def entry_dict(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "entry_id": entry.entry_id,
        "version": entry.version,
        "event_type": str(entry.event_type),
        "recorded_at": entry.recorded_at.isoformat(),
        "payload": dict(entry.payload),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def audit_router(store: LedgerStore, admin: Any) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"], dependencies=[Depends(admin)])

    @router.get("/entries", summary="Ledger entries: the last `limit`, or those after `after`")
    async def entries(
        limit: int = Query(50, ge=1, le=1000), after: int | None = Query(None, ge=0)
    ) -> dict[str, Any]:
        rows = await (store.scan(after, limit) if after is not None else store.tail(limit))
        return {"entries": [entry_dict(e) for e in rows]}

    @router.get("/verify", summary="Verify the hash chain end to end")
    async def verify_chain() -> dict[str, Any]:
        report = await verify(store)
        return {
            "ok": report.ok,
            "entries_checked": report.entries_checked,
            "first_bad_seq": report.first_bad_seq,
            "problem": report.problem,
            "detail": report.detail,
        }

    return router
