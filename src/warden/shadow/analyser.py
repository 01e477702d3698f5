"""The decision analyser that denies blocked identifiers (reason ``agent.blocked``).

It runs before the identity analyser, so a blocked identifier is denied with its own reason
even once it is registered and active. The blocked set lives in memory
(:meth:`ShadowService.is_blocked`); a block takes effect on the very next decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from warden.decisions.analysers import Feature, is_agent
from warden.decisions.models import DecisionRequest, Outcome, Reason

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView

BLOCKED = "agent.blocked"


class BlockedAnalyser:
    name = "shadow"

    def __init__(self, is_blocked: Callable[[str], bool]) -> None:
        self._is_blocked = is_blocked

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        subject = request.subject
        if not is_agent(subject) or not self._is_blocked(subject.id):
            return None
        reason = Reason(
            BLOCKED,
            f"agent `{subject.id}` is blocked as a shadow agent",
            "analyser",
            Outcome.DENY,
        )
        return Feature(self.name, {"blocked": True}, (reason,))
