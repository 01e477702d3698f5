"""Session errors.

::

    SessionError
    ├── SessionNotFound      session_not_found → 404
    ├── InvalidSessionInput  invalid_input → 400, naming the field
    └── SessionConflict      → 409, with a code naming the state that forbids it:
                             already_suspended, not_suspended
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class SessionError(WardenError):
    code = "session_error"


class SessionNotFound(SessionError):
    code = "session_not_found"


class InvalidSessionInput(FieldError, SessionError):
    """A value given to suspend or resume is malformed; ``field`` names it."""

    code = "invalid_input"


class SessionConflict(SessionError):
    """The session's state does not allow this (suspended twice, resumed while active)."""

    code = "session_conflict"
