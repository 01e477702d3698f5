"""An entitlement: one grant of an action on a resource to an agent, with who and why.

This module is the contract other capabilities (access reviews, SCIM, the dashboard) use;
:class:`EntitlementService` in ``service.py`` implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class GrantState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"  # by a person or an access review; kept for history
    PRUNED = "pruned"  # by right-sizing (unused); ``restore`` brings it back


@dataclass(frozen=True, slots=True)
class Entitlement:
    """``agent_id`` may perform ``action`` on ``resource_type``/``resource_id``.

    ``resource_id`` ``"*"`` means every resource of that type. ``action`` is a Cedar action
    id (``invoke`` for tools). Expired grants (``expires_at`` passed) no longer permit.
    """

    id: str
    agent_id: str
    action: str
    resource_type: str  # Cedar entity type, e.g. "Tool"
    resource_id: str  # e.g. "erp.invoice.read", or "*"
    justification: str
    granted_by: str
    granted_at: datetime
    expires_at: datetime | None
    state: GrantState
    template: str | None = None  # the provisioning template it came from, if any
    changed_by: str | None = None  # who revoked / pruned / restored it last
    changed_at: datetime | None = None
    change_reason: str | None = None

    def in_force(self, now: datetime) -> bool:
        return self.state is GrantState.ACTIVE and (
            self.expires_at is None or now < self.expires_at
        )

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "justification": self.justification,
            "granted_by": self.granted_by,
            "granted_at": self.granted_at.isoformat(),
            "expires_at": iso(self.expires_at),
            "state": self.state.value,
            "template": self.template,
            "changed_by": self.changed_by,
            "changed_at": iso(self.changed_at),
            "change_reason": self.change_reason,
        }
