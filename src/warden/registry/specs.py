"""What a caller sends to register an agent or a tool, validated (pydantic).

The HTTP API, the CLI and the Python API all go through these, so the rules live once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.registry.models import AgentStatus, RiskTier, ToolAnnotations
from warden.registry.spiffe import spiffe_id_problem

_OWNER = re.compile(r"[^@\s]+@[^@\s]+")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}")

Text = Annotated[str, Field(min_length=1, max_length=200)]


class AgentSpec(BaseModel):
    """A request to register an agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="SPIFFE ID, e.g. spiffe://acme.example/agent/ap-clerk")
    display_name: Text
    owner: str = Field(description="the accountable person's email", max_length=320)
    team: Text
    status: AgentStatus = AgentStatus.ACTIVE
    risk_tier: RiskTier = RiskTier.MEDIUM
    co_owners: list[str] = Field(
        default_factory=list, max_length=20, description="more accountable people (emails)"
    )
    purpose: str = Field(default="", max_length=200, description="what the agent is for")
    expires_at: datetime | None = Field(
        default=None, description="suspended automatically after this instant"
    )

    @field_validator("id")
    @classmethod
    def _spiffe(cls, value: str) -> str:
        problem = spiffe_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return person(value, "owner")

    @field_validator("co_owners")
    @classmethod
    def _co_owners(cls, value: list[str]) -> list[str]:
        return people(value, "co-owner")

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime | None) -> datetime | None:
        return aware(value)


class AgentUpdate(BaseModel):
    """A change to an agent's descriptive fields, owners or expiry (not its status)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: Text | None = None
    team: Text | None = None
    purpose: str | None = Field(default=None, max_length=200)
    risk_tier: RiskTier | None = None
    owners: list[str] | None = Field(
        default=None, min_length=1, max_length=21, description="every owner, primary first"
    )
    expires_at: datetime | None = None
    clear_expiry: bool = False

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else people(value, "owner")

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime | None) -> datetime | None:
        return aware(value)


class StatusChange(BaseModel):
    """A lifecycle transition, with why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: AgentStatus
    reason: str = Field(min_length=1, max_length=500, description="why, for the audit trail")


def person(value: str, what: str) -> str:
    """A person's email, lower-cased; raises ValueError naming ``what``."""
    if not _OWNER.fullmatch(value):
        raise ValueError(f"{what} must be a person's email address")
    return value.lower()


def people(values: list[str], what: str) -> list[str]:
    found = [person(v, what) for v in values]
    if len(set(found)) != len(found):
        raise ValueError(f"each {what} may be listed once")
    return found


def aware(value: datetime | None) -> datetime | None:
    """A timestamp in UTC; a naive one is refused (its zone would be a guess)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2027-01-31T00:00:00Z")
    return value.astimezone(UTC)


class AnnotationsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: bool = False
    destructive: bool = True
    external: bool = True
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=64
    )

    def to_annotations(self) -> ToolAnnotations:
        # A read-only tool cannot be destructive (MCP: destructiveHint applies only when
        # readOnlyHint is false).
        return ToolAnnotations(
            read_only=self.read_only,
            destructive=self.destructive and not self.read_only,
            external=self.external,
            labels=frozenset(self.labels),
        )


class ToolSpec(BaseModel):
    """A request to register (or update) a tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(max_length=200)
    description: str = Field(default="", max_length=10_000)
    annotations: AnnotationsSpec = Field(default_factory=AnnotationsSpec)
    input_schema: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(
                "a tool name starts with a letter or digit and uses letters, digits, "
                "`.`, `_`, `:`, `/` or `-`"
            )
        return value
