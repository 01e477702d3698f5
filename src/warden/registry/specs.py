"""What a caller sends to register an agent or a tool, validated (pydantic).

The HTTP API, the CLI and the Python API all go through these, so the rules live once.
"""

from __future__ import annotations

import re
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
        if not _OWNER.fullmatch(value):
            raise ValueError("owner must be a person's email address")
        return value.lower()


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
