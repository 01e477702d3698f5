"""The values of the sessions concept: ids, statuses, windows and what a session keeps of drift.

A *session* is one agent acting under one mandate; the mandate id ``""`` means "no mandate",
so every agent has one rolling session for its actions without a mandate.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

ID_PREFIX = "ses_"

WINDOWS: dict[str, timedelta] = {
    "m1": timedelta(minutes=1),
    "m10": timedelta(minutes=10),
    "h1": timedelta(hours=1),
    "d1": timedelta(days=1),
}
"""The sliding windows of ``context.session``: the last minute, 10 minutes, hour and day."""

MAX_DESTINATIONS = 1_000
"""External domains remembered per session. Past this bound new domains are not remembered,
so every further unknown domain still counts as ``new_destination`` (the safe side)."""

MAX_RECENT = 100
"""Recent actions kept per session for display (tool, outcome, time, drift score)."""


class SessionStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@functools.lru_cache(maxsize=8192)
def session_id(agent: str, mandate: str) -> str:
    """The session's stable id: the same agent and mandate give the same id after a restart."""
    digest = hashlib.sha256(f"{agent}\0{mandate}".encode()).hexdigest()
    return ID_PREFIX + digest[:24]


@dataclass(frozen=True, slots=True)
class DriftMark:
    """What the session keeps of the drift of one action (computed by ``warden.behavior``)."""

    score: float  # this action's drift score, 0..1
    session_score: float  # the session's running score after this action, 0..1
    run: int  # consecutive high-scoring actions, this one included


@dataclass(frozen=True, slots=True)
class Suspension:
    """Who suspended a session, why and when (``at`` as an ISO string)."""

    reason: str
    by: str
    at: str
