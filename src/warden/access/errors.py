"""Access-control errors."""

from __future__ import annotations

from warden.errors import WardenError


class AccessError(WardenError):
    code = "access_error"


class Forbidden(AccessError):
    """The caller is authenticated but their roles do not allow this."""

    code = "forbidden"


class AccessTokenNotFound(AccessError):
    code = "access_token_not_found"
