"""Sightings: who reached Warden without being a registered, active agent.

A sighting is keyed by *kind* and *identifier* (``subject:spiffe://acme.example/agent/x``,
``oauth_client:wc_…``, ``spiffe:spiffe://…``) and aggregates every time it was seen: first and
last seen, how often, on which surfaces, which tools or resources it tried, which people it
acted for when a request said so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class SightingKind(StrEnum):
    """What kind of identifier was seen. Append-only: stored and in the ledger."""

    SUBJECT = "subject"  # a decision's subject (AuthZEN, SDK, gateways)
    OAUTH_CLIENT = "oauth_client"  # a client id at the token endpoint
    SPIFFE = "spiffe"  # a SPIFFE ID from a JWT-SVID / X509-SVID client assertion
    MCP_CLIENT = "mcp_client"  # an MCP client at the gateway (a later issue)


class SightingStatus(StrEnum):
    """``open`` until an administrator promotes it to an agent or blocks it."""

    OPEN = "open"
    PROMOTED = "promoted"
    BLOCKED = "blocked"


class Surface(StrEnum):
    """Where a sighting happened. Append-only."""

    AUTHZEN = "authzen"  # the AuthZEN decision API
    SDK = "sdk"  # in-process decisions (the Python API, the CLI's local store)
    TOKEN_ENDPOINT = "token_endpoint"  # POST /oauth2/token
    MCP = "mcp"  # the MCP gateway
    EGRESS = "egress"  # the HTTP egress gateway


MAX_TOOLS = 50
"""Distinct tools/resources kept per sighting (the first ones seen)."""
MAX_HUMANS = 20
"""Distinct people kept per sighting."""
MAX_SURFACES = 16
"""Distinct surfaces kept per sighting."""
MAX_IDENTIFIER = 2048
"""Longest identifier kept (SPIFFE IDs are at most 2048 bytes); longer ones are cut."""


def sighting_key(kind: SightingKind, identifier: str) -> str:
    return f"{kind.value}:{identifier}"


def sighting_id(kind: SightingKind, identifier: str) -> str:
    """A short stable id for the CLI and the API: 12 hex digits of the key's SHA-256."""
    return hashlib.sha256(sighting_key(kind, identifier).encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Observation:
    """One time an identifier was seen somewhere without being a registered, active agent."""

    kind: SightingKind
    identifier: str
    where: str  # a Surface, or another enforcement point's name
    at: datetime
    tool: str | Sequence[str] | None = None  # what it tried: tools, resources
    human: str | None = None  # whom it acted for, when the request said so
    registry_status: str | None = None  # the agent's status when registered but not active
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """Everything known of one identifier of one kind."""

    id: str
    kind: SightingKind
    identifier: str
    first_seen: datetime
    last_seen: datetime
    count: int
    surfaces: tuple[str, ...]
    tools: tuple[str, ...]
    humans: tuple[str, ...]
    registry_status: str | None  # the agent's status when it is known but not active
    status: SightingStatus
    status_reason: str = ""
    status_by: str | None = None  # who promoted or blocked it
    status_at: datetime | None = None
    agent_id: str | None = None  # the agent it was promoted to

    @property
    def key(self) -> str:
        return sighting_key(self.kind, self.identifier)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind.value,
            "identifier": self.identifier,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "count": self.count,
            "where": list(self.surfaces),
            "tools": list(self.tools),
            "humans": list(self.humans),
            "registry_status": self.registry_status,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "status_by": self.status_by,
            "status_at": self.status_at.isoformat() if self.status_at else None,
            "agent_id": self.agent_id,
        }
