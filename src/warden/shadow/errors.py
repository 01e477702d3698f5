"""Shadow-agent errors.

::

    ShadowError
    ├── SightingNotFound   sighting_not_found → 404
    ├── NotPromotable      not_promotable → 400 (the identifier is not a SPIFFE ID)
    ├── InvalidShadowInput invalid_input → 400, naming the field
    └── ShadowConflict     → 409, with a code naming the state that forbids it:
                           already_promoted, agent_exists, blocked, already_blocked, not_blocked
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class ShadowError(WardenError):
    code = "shadow_error"


class SightingNotFound(ShadowError):
    code = "sighting_not_found"


class NotPromotable(ShadowError):
    """Only a SPIFFE ID can become an agent (an agent's id is its SPIFFE ID)."""

    code = "not_promotable"


class InvalidShadowInput(FieldError, ShadowError):
    """A value given to promote or block is malformed; ``field`` names it."""

    code = "invalid_input"


class ShadowConflict(ShadowError):
    """The sighting's state does not allow this (promoted twice, blocked, not blocked...)."""

    code = "shadow_conflict"
