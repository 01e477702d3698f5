"""The drift analyser: ``context.drift``, how far this action is from the agent's baseline.

It adds the block and no finding: the policies decide (``examples/drift/drift.cedar`` steps
up a high score and suspends the session on an extreme or sustained one). The runtime reads
the result back with :meth:`DriftAnalyser.latest` to mark the session after the decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from warden.behavior.drift import DriftResult, SessionLike
from warden.behavior.service import BehaviorService
from warden.decisions.analysers import Feature
from warden.decisions.models import DecisionRequest
from warden.sessions.facts import ActionFacts, FactsCache

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView

BLOCK = "drift"


class SessionSource(Protocol):
    """Where the analyser finds a session's state (the sessions service)."""

    def get(self, key: tuple[str, str]) -> SessionLike | None: ...


class DriftAnalyser:
    """``context.drift`` for agents; None for any other subject."""

    name = BLOCK

    def __init__(
        self,
        behavior: BehaviorService,
        sessions: SessionSource,
        facts: FactsCache,
        profile_of: Callable[[ActionFacts], str | None],
    ) -> None:
        self.behavior = behavior
        self.sessions = sessions
        self.facts = facts
        self.profile_of = profile_of
        self._last: tuple[ActionFacts, DriftResult] | None = None

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        facts = self.facts.of(request, view, now)
        if facts is None:
            return None
        session = self.sessions.get(facts.session_key)
        result = self.behavior.score(facts, session, self.profile_of(facts))
        self._last = (facts, result)
        return Feature(BLOCK, result.block())

    def latest(self, facts: ActionFacts) -> DriftResult | None:
        """The result :meth:`analyse` computed for ``facts`` (the same object), if it was
        the last one; for the runtime to mark the session after the decision."""
        if self._last is not None and self._last[0] is facts:
            return self._last[1]
        return None
