"""What makes a grant well-formed: the rules the service, templates and the API share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from warden.entitlements.errors import InvalidEntitlement
from warden.policy.errors import InvalidValue
from warden.policy.values import cedar_entity_type

DEFAULT_ACTION = "invoke"
DEFAULT_RESOURCE_TYPE = "Tool"
MAX_JUSTIFICATION = 1000

_ACTION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}")
_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*")
_GIVEN_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(::[A-Za-z_][A-Za-z0-9_]*)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class GrantSpec:
    """A grant as asked for, checked and normalised by :func:`grant_spec`."""

    action: str
    resource_type: str
    resource_id: str
    justification: str


def grant_spec(action: str, resource_type: str, resource_id: str, justification: str) -> GrantSpec:
    """Check a grant's fields; :class:`InvalidEntitlement` names the first bad one.

    ``resource_type`` may be given the AuthZEN way (``tool``) or as a Cedar type (``Tool``).
    """
    if not _ACTION.fullmatch(action):
        raise InvalidEntitlement(
            f"action `{action}` is not a valid action name (letters, digits, `_.:/-`)",
            field="action",
        )
    return GrantSpec(
        action,
        _resource_type(resource_type),
        _resource_id(resource_id),
        _justification(justification),
    )


def _resource_type(value: str) -> str:
    try:  # `tool` (AuthZEN) → `Tool` (Cedar), as the decision pipeline maps them
        cedar = cedar_entity_type(value) if _GIVEN_TYPE.fullmatch(value) else ""
    except InvalidValue:
        cedar = ""
    if len(cedar) > 200 or not _TYPE.fullmatch(cedar) or cedar == "Action":
        raise InvalidEntitlement(
            f"resource type `{value}` is not an entity type such as `Tool`",
            field="resource_type",
        )
    return cedar


def _resource_id(value: str) -> str:
    if not value or len(value) > 2048 or _CONTROL.search(value):
        raise InvalidEntitlement(
            "resource id must be 1 to 2048 printable characters, or `*` for every resource",
            field="resource_id",
        )
    return value


def _justification(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidEntitlement(
            "a justification is required: say why the agent needs this", field="justification"
        )
    if len(text) > MAX_JUSTIFICATION:
        raise InvalidEntitlement(
            f"justification is longer than {MAX_JUSTIFICATION} characters", field="justification"
        )
    return text


def expiry(value: datetime | None, now: datetime) -> datetime | None:
    """An expiry in UTC, refused when naive or not in the future."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidEntitlement(
            "give expires_at a time zone, e.g. 2027-01-31T00:00:00Z", field="expires_at"
        )
    if value <= now:
        raise InvalidEntitlement(
            f"expires_at `{value.isoformat()}` is not in the future", field="expires_at"
        )
    return value.astimezone(UTC)
