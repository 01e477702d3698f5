"""HTTP routes of accountability (read-only; ``admin`` or ``auditor``):

- ``GET /v1/chains/{chain_id}``: the chain as a tree of hops with per-hop action counts;
- ``GET /v1/chains/{chain_id}/blast-radius``: what its allowed actions touched;
- ``GET /v1/decisions/{decision_id}/trace``: person → agents → action;
- ``GET /v1/people/{person}/actions?from=&to=&limit=&after=``: a person's decisions and
  delegations between two ISO 8601 times.

And (``admin`` only) ``POST /v1/chains/{hop_or_chain_id}/revoke`` ``{reason}``: revoke a hop and
every hop below it, or a whole chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from warden.access.models import Role
from warden.chains.errors import ChainError, ChainNotFound
from warden.chains.queries import (
    MAX_PAGE,
    Accountability,
    AccountabilityError,
    BadTimeRange,
    UnknownChain,
    UnknownDecision,
)
from warden.chains.service import ChainService
from warden.server.auth import AdminAuth

MAX_REASON = 500

_STATUS: dict[type[AccountabilityError], int] = {
    UnknownDecision: 404,
    UnknownChain: 404,
    BadTimeRange: 400,
}


def accountability_error_response(exc: AccountabilityError) -> JSONResponse:
    code = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def chains_router(queries: Accountability, admin: AdminAuth) -> APIRouter:
    readers = admin.require(Role.ADMIN, Role.AUDITOR)
    router = APIRouter(prefix="/v1", tags=["chains"], dependencies=[Depends(readers)])

    @router.get("/chains/{chain_id}", summary="A delegation chain as a tree of hops")
    async def tree(chain_id: str) -> dict[str, Any]:
        return await queries.tree(chain_id)

    @router.get("/chains/{chain_id}/blast-radius", summary="What a chain's actions touched")
    async def blast_radius(chain_id: str) -> dict[str, Any]:
        return await queries.blast_radius(chain_id)

    @router.get("/decisions/{decision_id}/trace", summary="A decision back to its person")
    async def trace(decision_id: str) -> dict[str, Any]:
        return (await queries.trace(decision_id)).to_dict()

    @router.get("/people/{person}/actions", summary="What was done for a person, in order")
    async def actions(
        person: str,
        start: str | None = Query(None, alias="from", max_length=64),
        end: str | None = Query(None, alias="to", max_length=64),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        after: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        return await queries.on_behalf_of(
            person, parse_time(start, "from"), parse_time(end, "to"), limit, after
        )

    return router


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time with a timezone (``Z`` accepted), or a :class:`BadTimeRange`."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadTimeRange(f"`{name}` is not an iso 8601 time: `{value}`") from None
    if moment.utcoffset() is None:
        raise BadTimeRange(f"`{name}` needs a timezone (such as `Z`), got `{value}`")
    return moment


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why, for the audit trail")


def chain_error_response(exc: ChainError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=404 if isinstance(exc, ChainNotFound) else 400)


def revocation_router(chains: ChainService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["chains"])

    @router.post(
        "/chains/{hop_or_chain_id}/revoke",
        summary="Revoke a hop and everything below it, or a whole chain",
    )
    async def revoke(
        hop_or_chain_id: str, body: Revocation, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        revoked = await chains.revoke(hop_or_chain_id, actor=actor, reason=body.reason, now=now)
        return {"revoked": revoked}

    return router
