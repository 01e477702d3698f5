"""Kill switch errors."""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class KillError(WardenError):
    code = "kill_error"


class InvalidKill(FieldError, KillError):
    code = "invalid_kill"


class NotKilled(KillError):
    """``revive`` of something that is not killed."""

    code = "not_killed"
