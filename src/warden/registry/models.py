"""Agents and tools as the registry knows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AgentStatus(StrEnum):
    """Lifecycle: provisioned → active → suspended → retired. Only ``active`` may act."""

    PROVISIONED = "provisioned"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


TRANSITIONS: dict[AgentStatus, frozenset[AgentStatus]] = {
    AgentStatus.PROVISIONED: frozenset({AgentStatus.ACTIVE, AgentStatus.RETIRED}),
    AgentStatus.ACTIVE: frozenset({AgentStatus.SUSPENDED, AgentStatus.RETIRED}),
    AgentStatus.SUSPENDED: frozenset({AgentStatus.ACTIVE, AgentStatus.RETIRED}),
    AgentStatus.RETIRED: frozenset(),  # keeps its history, never acts again
}
"""Which lifecycle changes are allowed from each status."""


class StatusReason(StrEnum):
    """Why Warden itself changed an agent's status (people give free text instead)."""

    EXPIRED = "expired"  # past its expiry date
    ORPHANED = "orphaned"  # no active owner left in the IdP
    REVIEW = "review"  # not recertified in an access review


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Agent:
    """A registered non-human actor; ``id`` is its SPIFFE ID."""

    id: str
    display_name: str
    owner: str
    team: str
    status: AgentStatus
    risk_tier: RiskTier
    created_at: datetime
    updated_at: datetime
    co_owners: tuple[str, ...] = ()  # accountable people besides ``owner``
    purpose: str = ""
    expires_at: datetime | None = None  # suspended automatically after this
    status_reason: str = ""  # why the status last changed
    last_active_at: datetime | None = None  # last decision about this agent

    def expired(self, now: datetime) -> bool:
        """Past its expiry date (whether or not housekeeping has suspended it yet)."""
        return self.expires_at is not None and self.expires_at <= now

    @property
    def owners(self) -> tuple[str, ...]:
        """Every accountable person, the primary owner first."""
        return (self.owner, *self.co_owners)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "owner": self.owner,
            "owners": list(self.owners),
            "team": self.team,
            "purpose": self.purpose,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "risk_tier": self.risk_tier.value,
            "expires_at": _iso(self.expires_at),
            "last_active_at": _iso(self.last_active_at),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class ToolAnnotations:
    """What a tool does, for risk: MCP's hints plus the data labels it returns.

    The defaults are MCP's (2025-06-18 ``ToolAnnotations``): a tool not known to be
    read-only is assumed destructive and open-world.
    """

    read_only: bool = False
    destructive: bool = True
    external: bool = True
    labels: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read_only": self.read_only,
            "destructive": self.destructive,
            "external": self.external,
            "labels": sorted(self.labels),
        }


@dataclass(frozen=True, slots=True)
class Tool:
    """Something an agent can invoke: an MCP tool, an HTTP route, a function."""

    name: str
    description: str
    annotations: ToolAnnotations
    input_schema: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "annotations": self.annotations.to_dict(),
            "input_schema": self.input_schema,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
