"""Sessions: what one agent has done under one mandate, for sequence-aware policies.

See docs/sessions.md. The public names:
"""

from warden.sessions.analyser import SessionAnalyser
from warden.sessions.errors import (
    InvalidSessionInput,
    SessionConflict,
    SessionError,
    SessionNotFound,
)
from warden.sessions.models import WINDOWS, DriftMark, SessionStatus, Suspension, session_id
from warden.sessions.service import SessionService
from warden.sessions.state import SessionState
from warden.sessions.store import MemorySessionStore, SessionStore

__all__ = [
    "WINDOWS",
    "DriftMark",
    "InvalidSessionInput",
    "MemorySessionStore",
    "SessionAnalyser",
    "SessionConflict",
    "SessionError",
    "SessionNotFound",
    "SessionService",
    "SessionState",
    "SessionStatus",
    "SessionStore",
    "Suspension",
    "session_id",
]
