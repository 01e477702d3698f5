"""Approval errors.

::

    ApprovalError
    ├── ApprovalNotFound      approval_not_found → 404
    ├── InvalidApprovalInput  invalid_input → 400, naming the field
    ├── ApprovalForbidden     → 403, with a code naming the rule: not_approver, own_request,
    │                         sole_owner
    └── ApprovalConflict      → 409, with a code naming the state that forbids it:
                              already_voted, approval_<status> (approval_denied, ...)
"""

from __future__ import annotations

from warden.errors import FieldError, WardenError


class ApprovalError(WardenError):
    code = "approval_error"


class ApprovalNotFound(ApprovalError):
    code = "approval_not_found"


class InvalidApprovalInput(FieldError, ApprovalError):
    """A value given to vote, list or cancel is malformed; ``field`` names it."""

    code = "invalid_input"


class ApprovalForbidden(ApprovalError):
    """This principal may not vote on this request."""

    code = "approval_forbidden"


class ApprovalConflict(ApprovalError):
    """The request's state does not allow this (decided already, voted twice)."""

    code = "approval_conflict"
