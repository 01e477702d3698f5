"""What an administrator sends to suspend or resume a session (validated; API and CLI)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from warden.sessions.service import MAX_REASON


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=MAX_REASON, description="why, for the audit trail")
