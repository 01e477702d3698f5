"""Storage errors."""

from __future__ import annotations

from warden.errors import WardenError


class StoreError(WardenError):
    """The store could not do what was asked (unreachable, bad URL, failed migration)."""

    code = "store_error"


class UnsupportedDatabaseURL(StoreError):
    code = "unsupported_database_url"
