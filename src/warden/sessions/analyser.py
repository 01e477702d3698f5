"""The session analyser: ``context.session``, what this agent has done under this mandate.

A suspended session adds a deny finding, ``session.suspended``, naming the session, who
suspended it and why: no policy can allow an action in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from warden.decisions.analysers import Feature
from warden.decisions.models import DecisionRequest, Outcome, Reason

if TYPE_CHECKING:
    from warden.decisions.view import DecisionView
    from warden.sessions.facts import FactsCache
    from warden.sessions.service import SessionService

BLOCK = "session"


class SessionAnalyser:
    name = BLOCK

    def __init__(self, service: SessionService, facts: FactsCache) -> None:
        self._service = service
        self._facts = facts

    def analyse(
        self, request: DecisionRequest, view: DecisionView, now: datetime
    ) -> Feature | None:
        facts = self._facts.of(request, view, now)
        if facts is None:
            return None
        block = self._service.block(facts)
        if not block["suspended"]:
            return Feature(BLOCK, block)
        state = self._service.get(facts.session_key)
        suspension = state.suspension if state is not None else None
        who = f" by `{suspension.by}`" if suspension and suspension.by else ""
        why = f": {suspension.reason}" if suspension and suspension.reason else ""
        finding = Reason(
            "session.suspended",
            f"session `{block['id']}` is suspended{who}{why}",
            "analyser",
            Outcome.DENY,
        )
        return Feature(BLOCK, block, (finding,))
