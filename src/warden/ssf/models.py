"""Event streams (SSF 1.0 §8.1.1) as Warden keeps them, and their wire form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from warden.ssf.events import EVENTS_SUPPORTED

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
DELIVERY_METHODS = (PUSH, POLL)


class StreamStatus(StrEnum):
    """SSF §8.1.2: ``enabled`` transmits; ``paused`` holds events until enabled again;
    ``disabled`` transmits nothing and holds nothing."""

    ENABLED = "enabled"
    PAUSED = "paused"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Stream:
    """One receiver's stream. ``authorization_header`` is the receiver's secret for push:
    sent with every POST, never returned, logged or written to the ledger."""

    id: str
    audience: tuple[str, ...]
    events_requested: tuple[str, ...]
    events_delivered: tuple[str, ...]
    delivery_method: str
    endpoint_url: str | None
    authorization_header: str | None = field(repr=False)
    status: StreamStatus
    status_reason: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime

    def carries(self, event_type: str) -> bool:
        """Whether an event of this type is queued on the stream now (not when disabled)."""
        return self.status is not StreamStatus.DISABLED and event_type in self.events_delivered

    def configuration(self, issuer: str) -> dict[str, Any]:
        """The stream configuration (SSF §8.1.1) a receiver reads."""
        config: dict[str, Any] = {
            "stream_id": self.id,
            "iss": issuer,
            "aud": self.audience[0] if len(self.audience) == 1 else list(self.audience),
            "delivery": {"method": self.delivery_method, "endpoint_url": self.endpoint_url},
            "events_supported": list(EVENTS_SUPPORTED),
            "events_requested": list(self.events_requested),
            "events_delivered": list(self.events_delivered),
        }
        if self.description:
            config["description"] = self.description
        return config

    def status_dict(self) -> dict[str, Any]:
        """The stream status (SSF §8.1.2.1)."""
        status: dict[str, Any] = {"stream_id": self.id, "status": self.status.value}
        if self.status_reason:
            status["reason"] = self.status_reason
        return status
