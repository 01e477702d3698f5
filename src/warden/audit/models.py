"""The audit ledger's wire format: event types and entries.

Both are contracts: an event type value is never renamed or reused, an entry field is never
renamed, and a change to how an entry is hashed needs a new ``LEDGER_VERSION``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

LEDGER_VERSION = 1
"""The entry format this code writes; it is part of every entry's hash."""


class EventType(StrEnum):
    """What an entry records. Append-only: values are never renamed or reused."""

    DECISION_ALLOW = "decision:allow"
    DECISION_DENY = "decision:deny"
    DECISION_STEP_UP = "decision:step_up"
    POLICY_REVISION_APPLIED = "policy:revision:applied"
    POLICY_REVISION_REJECTED = "policy:revision:rejected"
    REGISTRY_AGENT_CREATED = "registry:agent:created"
    REGISTRY_AGENT_UPDATED = "registry:agent:updated"
    REGISTRY_TOOL_CREATED = "registry:tool:created"
    REGISTRY_TOOL_UPDATED = "registry:tool:updated"
    AGENT_SIGHTING_UNKNOWN = "agent:sighting:unknown"
    AGENT_CREDENTIAL_ISSUED = "agent:credential:issued"
    OAUTH_CLIENT_REGISTERED = "oauth:client:registered"
    # identity governance (lifecycle, owners, entitlements, reviews, SCIM, shadow agents)
    REGISTRY_AGENT_STATUS_CHANGED = "registry:agent:status_changed"
    REGISTRY_AGENT_OWNERS_CHANGED = "registry:agent:owners_changed"
    REGISTRY_AGENT_ORPHANED = "registry:agent:orphaned"
    ENTITLEMENT_GRANTED = "entitlement:granted"
    ENTITLEMENT_REVOKED = "entitlement:revoked"
    ENTITLEMENT_PRUNED = "entitlement:pruned"
    ENTITLEMENT_RESTORED = "entitlement:restored"
    REVIEW_CAMPAIGN_OPENED = "review:campaign:opened"
    REVIEW_ITEM_DECIDED = "review:item:decided"
    REVIEW_CAMPAIGN_CLOSED = "review:campaign:closed"
    SCIM_RESOURCE_CREATED = "scim:resource:created"
    SCIM_RESOURCE_UPDATED = "scim:resource:updated"
    SCIM_RESOURCE_DELETED = "scim:resource:deleted"
    SHADOW_AGENT_PROMOTED = "shadow:agent:promoted"
    SHADOW_AGENT_BLOCKED = "shadow:agent:blocked"
    SHADOW_AGENT_UNBLOCKED = "shadow:agent:unblocked"
    ACCESS_TOKEN_ISSUED = "access:token:issued"
    ACCESS_TOKEN_REVOKED = "access:token:revoked"
    OAUTH_KEY_ROTATED = "oauth:key:rotated"
    PROFILE_APPLIED = "profile:applied"
    MANDATE_ISSUED = "mandate:issued"
    MANDATE_REVOKED = "mandate:revoked"
    SESSION_SUSPENDED = "session:suspended"
    SESSION_RESUMED = "session:resumed"
    DRIFT_ALERT = "drift:alert"
    BASELINE_FROZEN = "baseline:frozen"
    BASELINE_UNFROZEN = "baseline:unfrozen"
    BASELINE_RESET = "baseline:reset"
    CHAIN_DELEGATED = "chain:delegated"
    CHAIN_REFUSED = "chain:refused"
    CHAIN_REVOKED = "chain:revoked"
    KILL_KILLED = "kill:killed"
    KILL_REVIVED = "kill:revived"
    APPROVAL_REQUESTED = "approval:requested"
    APPROVAL_APPROVED = "approval:approved"
    APPROVAL_DENIED = "approval:denied"
    APPROVAL_VOTED = "approval:voted"
    APPROVAL_EXPIRED = "approval:expired"
    APPROVAL_CANCELLED = "approval:cancelled"
    APPROVAL_USED = "approval:used"
    SSF_STREAM_CREATED = "ssf:stream:created"
    SSF_STREAM_UPDATED = "ssf:stream:updated"
    SSF_STREAM_DELETED = "ssf:stream:deleted"
    SSF_RECEIVED = "ssf:received"
    CONNECTION_CREATED = "connection:created"
    CONNECTION_UPDATED = "connection:updated"
    CONNECTION_DELETED = "connection:deleted"
    CONNECTION_REKEYED = "connection:rekeyed"


DECISION_EVENTS = frozenset(
    {EventType.DECISION_ALLOW, EventType.DECISION_DENY, EventType.DECISION_STEP_UP}
)


def parse_event_type(value: str) -> EventType | str:
    """``value`` as an :class:`EventType`, or unchanged if a newer Warden wrote it."""
    try:
        return EventType(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One committed ledger entry.

    ``event_type`` is a plain ``str`` only for event types added by a newer Warden.
    ``recorded_at`` is timezone-aware UTC. ``hash`` commits to every other field and to
    ``prev_hash``, the previous entry's hash (see :func:`warden.audit.chain.entry_hash`).
    """

    seq: int
    entry_id: str
    version: int
    event_type: EventType | str
    recorded_at: datetime
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str
    # The payload's canonical JSON when the writer already has it (not part of equality).
    payload_json: str = field(default="", compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON, timestamps exactly as hashed (UTC, ``Z``)."""
        from warden.audit.chain import format_timestamp

        return {
            "seq": self.seq,
            "entry_id": self.entry_id,
            "version": self.version,
            "event_type": str(self.event_type),
            "recorded_at": format_timestamp(self.recorded_at),
            "payload": dict(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


Problem = Literal["altered", "removed", "reordered", "inserted"]
"""How the ledger was tampered with, as :func:`warden.audit.verify` names it."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of verifying a ledger.

    ``entries_checked`` counts the entries proven intact before the first problem (all of
    them when ``ok``). ``first_bad_seq`` and ``problem`` are ``None`` when ``ok``; ``detail``
    is a sentence for an auditor either way.
    """

    ok: bool
    entries_checked: int
    first_bad_seq: int | None
    problem: Problem | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "detail": self.detail,
        }
