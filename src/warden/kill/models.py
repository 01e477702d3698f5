"""What can be killed, and the record of a kill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class KillKind(StrEnum):
    AGENT = "agent"  # a SPIFFE ID: every action of the agent, at any depth of any chain
    SESSION = "session"  # a session id (ses_…): one agent's run under one mandate
    CHAIN = "chain"  # a chain id (chn_…) or a hop id (hop_…): that branch and below
    MANDATE = "mandate"  # a mandate id: its actions and every delegate's below it
    PERSON = "person"  # an email: everything done on their behalf


@dataclass(frozen=True, slots=True)
class Kill:
    id: str
    kind: KillKind
    target: str
    reason: str
    actor: str
    created_at: datetime
    revived_at: datetime | None = None
    revived_by: str | None = None
    revive_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revived_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "target": self.target,
            "reason": self.reason,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "active": self.active,
            "revived_at": self.revived_at.isoformat() if self.revived_at else None,
            "revived_by": self.revived_by,
            "revive_reason": self.revive_reason,
        }
