"""Warden's error hierarchy.

Every concept keeps its errors in its own ``errors.py``; all of them derive from
:class:`WardenError` and carry a stable machine ``code``::

    WardenError
    ├── warden.store.errors.StoreError
    ├── warden.registry.errors.RegistryError
    │   ├── AgentNotFound, ToolNotFound, AgentExists, InvalidRegistryInput
    ├── warden.policy.errors.PolicyError
    │   ├── PolicyValidationError (carries line/column problems)
    │   └── BundleError
    ├── warden.decisions.errors.DecisionError
    │   └── InvalidRequest (names the offending field)
    └── warden.audit.errors.AuditError
        └── LedgerCorrupted

Messages are lowercase, without a final period, with user values in backticks.
Only ``api.py`` modules map errors to HTTP status codes.
"""

from __future__ import annotations


class WardenError(Exception):
    """Root of every error Warden raises on purpose."""

    code: str = "warden_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message}


class FieldError(WardenError):
    """Bad input; ``field`` names where it is (a JSON path, or empty for the whole body).
    Each concept's input error derives from it and from that concept's base error."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, "field": self.field}
