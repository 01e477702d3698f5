"""Access reviews: campaigns in which owners recertify their agents' entitlements; items not
recertified by the deadline are revoked or the agent suspended."""

from warden.reviews.models import (
    Campaign,
    CampaignReport,
    CampaignState,
    Consequence,
    ItemState,
    ReviewItem,
    Scope,
    ScopeKind,
    Verdict,
)
from warden.reviews.service import ReviewService

__all__ = [
    "Campaign",
    "CampaignReport",
    "CampaignState",
    "Consequence",
    "ItemState",
    "ReviewItem",
    "ReviewService",
    "Scope",
    "ScopeKind",
    "Verdict",
]
