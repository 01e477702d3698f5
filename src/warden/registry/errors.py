"""Registry errors."""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class RegistryError(WardenError):
    code = "registry_error"


class InvalidRegistryInput(FieldError, RegistryError):
    """A field of an agent or tool is malformed; ``field`` names it."""

    code = "invalid_input"


class AgentNotFound(RegistryError):
    code = "agent_not_found"


class ToolNotFound(RegistryError):
    code = "tool_not_found"


class AgentExists(RegistryError):
    code = "agent_exists"


class InvalidTransition(RegistryError):
    """A lifecycle change the state machine does not allow (e.g. out of ``retired``)."""

    code = "invalid_transition"


class NotPermitted(RegistryError):
    """The caller may not change this agent (an owner touching another owner's agent)."""

    code = "forbidden"
