"""What an administrator sends to promote, block or unblock (validated; API and CLI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from warden.registry.specs import person


class Promotion(BaseModel):
    """Who is accountable for the agent a sighting becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: str = Field(max_length=320, description="the accountable person's email")
    team: str = Field(min_length=1, max_length=200)
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: the id's last segment"
    )

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return person(value, "owner")


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=500, description="why, for the audit trail")


class Unblock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(default="", max_length=500, description="why, for the audit trail")
