"""Access reviews: campaigns in which owners recertify what their agents may do.

A campaign snapshots, when it opens, one :class:`ReviewItem` per (agent, entitlement in
force) in its :class:`Scope` — and one per in-scope agent with no entitlement, so the agent
itself is recertified. Each item's reviewers are the agent's owners at that moment. Items
still pending at the deadline have the campaign's :class:`Consequence` applied.

Campaign states::

    open ──(deadline passed, or closed on demand)──► closing ──(consequences applied)──► closed

Decisions are taken only while a campaign is ``open`` and before its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class ScopeKind(StrEnum):
    ALL = "all"
    TEAM = "team"
    OWNER = "owner"  # any of the agent's owners
    RISK_TIER = "risk_tier"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which agents a campaign reviews: every agent, or those of a team, owner or risk tier.

    Retired agents are never in scope (they can never act again)."""

    kind: ScopeKind = ScopeKind.ALL
    value: str | None = None

    def describe(self) -> str:
        if self.kind is ScopeKind.ALL:
            return "all agents"
        return f"{self.kind.value.replace('_', ' ')} `{self.value}`"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "value": self.value}


class Consequence(StrEnum):
    """What happens to an item nobody decided by the deadline."""

    REVOKE = "revoke"  # its entitlement is revoked
    SUSPEND = "suspend"  # its agent is suspended (status reason ``review``)


class CampaignState(StrEnum):
    OPEN = "open"
    CLOSING = "closing"  # no more decisions; consequences are being applied
    CLOSED = "closed"


class Verdict(StrEnum):
    """A reviewer's decision on an item."""

    CERTIFY = "certify"  # still needed: keep it
    REVOKE = "revoke"  # not needed: the entitlement is revoked (the agent suspended) now


class ItemState(StrEnum):
    PENDING = "pending"
    CERTIFIED = "certified"
    REVOKED = "revoked"
    EXPIRED = "expired"  # not decided by the deadline; the consequence was applied


class Effect(StrEnum):
    """What an item's outcome changed, as recorded on the item and in the ledger."""

    NONE = "none"  # nothing to change (certified, or already revoked / not active)
    ENTITLEMENT_REVOKED = "entitlement_revoked"
    AGENT_SUSPENDED = "agent_suspended"


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    scope: Scope
    deadline: datetime
    on_deadline: Consequence
    state: CampaignState
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None  # who closed it: a person, or ``warden`` at the deadline
    closed_at: datetime | None = None

    def accepts_decisions(self, now: datetime) -> bool:
        return self.state is CampaignState.OPEN and now < self.deadline

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope.to_dict(),
            "deadline": self.deadline.isoformat(),
            "on_deadline": self.on_deadline.value,
            "state": self.state.value,
            "opened_by": self.opened_by,
            "opened_at": self.opened_at.isoformat(),
            "closed_by": self.closed_by,
            "closed_at": _iso(self.closed_at),
        }


@dataclass(frozen=True, slots=True)
class Grant:
    """The entitlement an item reviews, as it was when the campaign opened."""

    id: str
    action: str
    resource_type: str
    resource_id: str
    justification: str

    def describe(self) -> str:
        return f"{self.action} {self.resource_type}::{self.resource_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "justification": self.justification,
        }


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One thing to recertify: an agent's entitlement, or (``grant`` None) the agent itself.

    ``number`` counts from 1 within its campaign."""

    campaign_id: str
    number: int
    agent_id: str
    agent_name: str
    grant: Grant | None
    reviewers: tuple[str, ...]
    state: ItemState = ItemState.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    effect: Effect | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "number": self.number,
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "entitlement": self.grant.to_dict() if self.grant else None,
            "reviewers": list(self.reviewers),
            "state": self.state.value,
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "comment": self.comment,
            "effect": self.effect.value if self.effect else None,
        }


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a campaign is: items per state, and what each reviewer still has to do."""

    total: int = 0
    certified: int = 0
    revoked: int = 0
    pending: int = 0
    expired: int = 0
    reviewers: dict[str, dict[str, int]] = field(default_factory=dict)  # person → pending, total

    @property
    def decided(self) -> int:
        return self.certified + self.revoked

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "certified": self.certified,
            "revoked": self.revoked,
            "pending": self.pending,
            "expired": self.expired,
            "decided": self.decided,
            "reviewers": {k: dict(v) for k, v in sorted(self.reviewers.items())},
        }


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """A campaign with its progress: what the API and the CLI show."""

    campaign: Campaign
    progress: Progress

    def to_dict(self) -> dict[str, Any]:
        return {**self.campaign.to_dict(), "progress": self.progress.to_dict()}


@dataclass(frozen=True, slots=True)
class ItemPage:
    items: list[ReviewItem]
    total: int  # how many items match, over all pages
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        following = self.offset + len(self.items)
        return {
            "items": [i.to_dict() for i in self.items],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": following if following < self.total else None,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
