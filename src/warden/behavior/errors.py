"""Behavioural baseline errors.

::

    BehaviorError
    ├── BaselineNotFound     baseline_not_found → 404 (no baseline learned for the agent)
    └── InvalidBaselineInput invalid_input → 400, naming the field
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class BehaviorError(WardenError):
    code = "behavior_error"


class BaselineNotFound(BehaviorError):
    """No baseline has been learned for this agent (it has no allowed action yet, or was reset)."""

    code = "baseline_not_found"


class InvalidBaselineInput(FieldError, BehaviorError):
    code = "invalid_input"
