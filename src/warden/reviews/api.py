"""HTTP routes of access reviews: ``/v1/reviews``.

Reading needs any role (an auditor reads everything). Opening and closing a campaign needs
``admin``. Deciding an item needs ``admin``, or ``owner`` when the caller is one of the
item's reviewers (an owner of its agent when the campaign opened).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse

from warden.access.models import Principal, Role
from warden.reviews.errors import (
    AlreadyDecided,
    CampaignClosed,
    CampaignNotFound,
    NotReviewer,
    ReviewError,
    ReviewItemNotFound,
)
from warden.reviews.models import CampaignState, ItemState
from warden.reviews.service import MAX_ITEMS_PAGE, ReviewService
from warden.reviews.specs import CampaignSpec, DecisionSpec
from warden.server.auth import AdminAuth

STATUS = {
    CampaignNotFound: 404,
    ReviewItemNotFound: 404,
    CampaignClosed: 409,
    AlreadyDecided: 409,
    NotReviewer: 403,
}


def review_error_response(exc: ReviewError) -> JSONResponse:
    code = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(exc.to_dict(), status_code=code)


def review_router(service: ReviewService, admin: AdminAuth) -> APIRouter:
    router = APIRouter(prefix="/v1/reviews", tags=["reviews"], dependencies=[Depends(admin)])
    deciders = admin.require(Role.ADMIN, Role.OWNER)

    @router.post("", status_code=status.HTTP_201_CREATED, summary="Open a campaign")
    async def open_campaign(
        spec: CampaignSpec, actor: str = Depends(admin.actor())
    ) -> dict[str, Any]:
        return (await service.open(spec, actor=actor, now=_now())).to_dict()

    @router.get("", summary="Campaigns, newest first, with their progress")
    async def list_campaigns(
        campaign_state: CampaignState | None = Query(None, alias="state"),
    ) -> dict[str, Any]:
        return {"campaigns": [r.to_dict() for r in await service.campaigns(campaign_state)]}

    @router.get("/{campaign_id}", summary="One campaign: progress and each reviewer's pending")
    async def get_campaign(campaign_id: str) -> dict[str, Any]:
        return (await service.report(campaign_id)).to_dict()

    @router.get("/{campaign_id}/items", summary="A campaign's items, by reviewer and state")
    async def list_items(
        campaign_id: str,
        reviewer: str | None = Query(None, max_length=320, description="a reviewer's email"),
        item_state: ItemState | None = Query(None, alias="state"),
        limit: int = Query(100, ge=1, le=MAX_ITEMS_PAGE),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        page = await service.items(
            campaign_id, reviewer=reviewer, state=item_state, limit=limit, offset=offset
        )
        return page.to_dict()

    @router.post("/{campaign_id}/items/{number}/decision", summary="Certify or revoke an item")
    async def decide(
        campaign_id: str,
        number: int,
        decision: DecisionSpec,
        principal: Principal = Depends(deciders),
    ) -> dict[str, Any]:
        item = await service.decide(
            campaign_id,
            number,
            decision.decision,
            by=principal,
            comment=decision.comment,
            now=_now(),
        )
        return item.to_dict()

    @router.post("/{campaign_id}/close", summary="Close now: pending items get the consequence")
    async def close(campaign_id: str, actor: str = Depends(admin.actor())) -> dict[str, Any]:
        return (await service.close(campaign_id, actor=actor, now=_now())).to_dict()

    return router


def _now() -> datetime:
    return datetime.now(UTC)
