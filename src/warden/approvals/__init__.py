"""Step-up approvals: a held action, bound to its hash, released once by approvers.

See docs/approvals.md. The public names:
"""

from warden.approvals.errors import (
    ApprovalConflict,
    ApprovalError,
    ApprovalForbidden,
    ApprovalNotFound,
    InvalidApprovalInput,
)
from warden.approvals.models import (
    ApprovalRequest,
    ApprovalStatus,
    Release,
    ReleaseCode,
    Vote,
    VoteKind,
    action_hash,
)
from warden.approvals.service import ApprovalService

__all__ = [
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalForbidden",
    "ApprovalNotFound",
    "ApprovalRequest",
    "ApprovalService",
    "ApprovalStatus",
    "InvalidApprovalInput",
    "Release",
    "ReleaseCode",
    "Vote",
    "VoteKind",
    "action_hash",
]
