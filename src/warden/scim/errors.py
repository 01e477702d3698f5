"""SCIM errors of Warden's own making.

The protocol's errors are RFC 7644 §3.12's, raised as scim2-models exceptions (each carries
the status and ``scimType`` the RFC assigns); these are Warden's, and
:mod:`warden.scim.api` turns them, and the registry's, into those::

    WardenError
    └── ScimError
        ├── InvalidAgent     an Agent resource the registry cannot take (names the attribute)
        └── AgentChanged     an Agent's ETag is not the one the client expected (If-Match)
"""

from __future__ import annotations

from warden.errors import WardenError


class ScimError(WardenError):
    code = "scim_error"


class InvalidAgent(ScimError):
    """An attribute of an Agent resource is malformed; ``attribute`` names it (SCIM name)."""

    code = "invalid_agent"

    def __init__(self, message: str, *, attribute: str) -> None:
        super().__init__(message)
        self.attribute = attribute


class AgentChanged(ScimError):
    """The agent changed since the version the client holds (``If-Match``, RFC 7644 §3.14)."""

    code = "precondition_failed"
