"""The values of step-up approvals: the action hash, statuses, requests, votes, releases.

An approval request holds one exact action until people decide on it. It is bound to
:func:`action_hash` of that action, so the approval releases that action and nothing else:
the same call with one argument changed, another tool, another mandate or another hop of a
delegation chain hashes differently and is not released.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

ID_PREFIX = "apr_"
HASH_VERSION = 1
"""Bumped if the canonical form of :func:`action_hash` ever changes (it is a wire contract:
a hash stored with a request must keep meaning the same action)."""


def action_hash(
    agent: str,
    action: str,
    resource_type: str,
    resource_id: str,
    arguments: Any,
    mandate_id: str | None,
    hop_id: str | None,
) -> str:
    """The SHA-256 (hex) of the action's canonical JSON.

    The canonical form is the JSON object ``{"v": 1, "agent", "action", "resource_type",
    "resource_id", "arguments", "mandate_id", "hop_id"}`` serialised by orjson with sorted
    keys at every depth and no whitespace. Values are taken as given: ``1`` and ``1.0`` are
    different arguments, as are ``"1"`` and ``1``, and a missing mandate (``null``) differs
    from the empty string. Arguments must be JSON values (string keys); anything else is a
    malformed request and raises ``TypeError``.
    """
    canonical = orjson.dumps(
        {
            "v": HASH_VERSION,
            "agent": agent,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "arguments": arguments,
            "mandate_id": mandate_id,
            "hop_id": hop_id,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


class ApprovalStatus(StrEnum):
    """``pending`` until decided; then ``approved`` (until ``used`` once, or ``expired``),
    ``denied``, ``expired`` (nobody decided in time) or ``cancelled`` (kill switch)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    USED = "used"


class VoteKind(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Vote:
    """One approver's word on one request; the comment is theirs and goes to the ledger."""

    approver: str
    vote: VoteKind
    comment: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "approver": self.approver,
            "vote": self.vote.value,
            "comment": self.comment,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One held action (a row of ``approval_requests`` with its votes).

    ``held`` is the action as the agent sent it, for the approvers to read: it may hold
    personal data, so it is shown through the API but never written to the ledger.
    """

    id: str
    action_hash: str
    decision_id: str
    agent: str
    person: str | None
    tool: str
    mandate_id: str | None
    chain_id: str | None
    session_id: str | None
    reasons: tuple[Mapping[str, Any], ...]
    held: Mapping[str, Any]
    required: int
    separation_of_duties: bool
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    used_at: datetime | None = None
    status_reason: str = ""
    votes: tuple[Vote, ...] = field(default=())

    @property
    def approvers(self) -> tuple[str, ...]:
        """Who voted to approve, in voting order."""
        return tuple(v.approver for v in self.votes if v.vote is VoteKind.APPROVE)

    @property
    def reason_codes(self) -> list[str]:
        return [str(r.get("code", "")) for r in self.reasons]

    def expired_at(self, now: datetime) -> bool:
        """Past its expiry (an approved request can then no longer be used either)."""
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """For the API and the CLI: everything, including ``held`` (what is approved)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "agent": self.agent,
            "person": self.person,
            "tool": self.tool,
            "mandate_id": self.mandate_id,
            "chain_id": self.chain_id,
            "session_id": self.session_id,
            "decision_id": self.decision_id,
            "action_hash": self.action_hash,
            "reasons": [dict(r) for r in self.reasons],
            "held": dict(self.held),
            "required": self.required,
            "separation_of_duties": self.separation_of_duties,
            "approvals": len(self.approvers),
            "votes": [v.to_dict() for v in self.votes],
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "used_at": self.used_at.isoformat() if self.used_at else None,
        }


class ReleaseCode(StrEnum):
    GRANTED = "approval.granted"
    UNKNOWN = "approval.unknown"
    MISMATCH = "approval.mismatch"
    PENDING = "approval.pending"
    DENIED = "approval.denied"
    EXPIRED = "approval.expired"
    USED = "approval.used"
    CANCELLED = "approval.cancelled"


@dataclass(frozen=True, slots=True)
class Release:
    """What :meth:`ApprovalService.check` says about releasing one held action: ``ok`` only
    with code ``approval.granted``; ``message`` names the approval (and who approved it)."""

    ok: bool
    code: str
    message: str
