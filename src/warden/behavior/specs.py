"""What an administrator sends to freeze, unfreeze or reset a baseline (API and CLI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BaselineChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(default="", max_length=500, description="why, for the audit trail")
