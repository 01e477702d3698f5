"""Access review errors::

ReviewError
├── InvalidReviewInput   a field of a campaign or decision is malformed (names it)
├── CampaignNotFound
├── ReviewItemNotFound
├── CampaignClosed       no more decisions: closed, closing, or past its deadline
├── AlreadyDecided       an item is decided once
└── NotReviewer          the caller is not one of the item's reviewers
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class ReviewError(WardenError):
    code = "review_error"


class InvalidReviewInput(FieldError, ReviewError):
    code = "invalid_input"


class CampaignNotFound(ReviewError):
    code = "campaign_not_found"


class ReviewItemNotFound(ReviewError):
    code = "review_item_not_found"


class CampaignClosed(ReviewError):
    code = "campaign_closed"


class AlreadyDecided(ReviewError):
    code = "already_decided"


class NotReviewer(ReviewError):
    code = "forbidden"
