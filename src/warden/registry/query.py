"""Inventory queries: filter, search, sort and page the agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from warden.registry.models import Agent, AgentStatus, RiskTier

MAX_PAGE = 500


class AgentSort(StrEnum):
    ID = "id"
    NAME = "display_name"
    TEAM = "team"
    OWNER = "owner"
    STATUS = "status"
    RISK = "risk_tier"
    CREATED = "created_at"
    LAST_ACTIVE = "last_active_at"


@dataclass(frozen=True, slots=True)
class AgentQuery:
    """Which agents, in which order, which page. Every filter given must match."""

    owner: str | None = None  # any of the agent's owners
    team: str | None = None
    status: AgentStatus | None = None
    risk_tier: RiskTier | None = None
    search: str | None = None  # case-insensitive substring of id, name or purpose
    active_since: datetime | None = None  # last decision at or after this
    inactive_since: datetime | None = None  # no decision since this (or never)
    sort: AgentSort = AgentSort.ID
    descending: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class AgentPage:
    agents: list[Agent]
    total: int  # how many agents match, over all pages
    query: AgentQuery

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        following = q.offset + len(self.agents)
        return {
            "agents": [a.to_dict() for a in self.agents],
            "total": self.total,
            "limit": q.limit,
            "offset": q.offset,
            "next_offset": following if following < self.total else None,
        }
