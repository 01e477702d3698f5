"""Sessions: count every decided action, build ``context.session``, suspend and resume.

:meth:`SessionService.record` and :meth:`SessionService.block` are on the decision path:
synchronous, in memory, O(1) amortised per action. Summaries reach the ``sessions`` table by
:meth:`SessionService.flush` (housekeeping), and at once when a session is suspended or
resumed; :meth:`SessionService.load` reads the suspended ones back at start, so a suspension
survives a restart. A session dropped from memory (idle, or the least recently used past
``max_sessions``) is persisted first; the next action under that agent and mandate starts
its windows afresh.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.models import EventType
from warden.decisions.models import Outcome
from warden.sessions.errors import InvalidSessionInput, SessionConflict, SessionNotFound
from warden.sessions.facts import ActionFacts
from warden.sessions.models import DriftMark, SessionStatus, Suspension, session_id
from warden.sessions.state import SessionState
from warden.sessions.store import MemorySessionStore, SessionStore, SqlSessionSummaries

MAX_REASON = 500


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class SessionService:
    """Every session's state, in memory, with its summary persisted."""

    def __init__(
        self,
        engine: AsyncEngine,
        audit: AuditSink,
        *,
        store: SessionStore | None = None,
        max_sessions: int = 100_000,
        idle: timedelta = timedelta(hours=24),
    ) -> None:
        self._summaries = SqlSessionSummaries(engine)
        self._audit = audit
        self._store: SessionStore = store if store is not None else MemorySessionStore(max_sessions)
        self.idle = idle
        # Every suspension, also of sessions not in memory: a session dropped from memory and
        # started again must come back suspended.
        self._suspended: dict[str, Suspension] = {}
        self._dirty: set[str] = set()  # changed since the last flush
        self._dropped: dict[str, dict[str, Any]] = {}  # summaries of dropped, not yet stored
        self._lock = asyncio.Lock()

    # -- decision path (sync, O(1)) -----------------------------------------------------------

    def get(self, key: tuple[str, str]) -> SessionState | None:
        """The session of (agent, mandate id), or None before its first action."""
        return self._store.get(session_id(*key))

    def record(
        self, facts: ActionFacts, outcome: Outcome, *, drift: DriftMark | None = None
    ) -> SessionState:
        """Count the decided action ``facts`` (starting its session if needed)."""
        state = self._state(facts.agent, facts.mandate, facts.at)
        state.record(facts, outcome, drift)
        self._keep(state)
        return state

    def block(self, facts: ActionFacts) -> dict[str, Any]:
        """``context.session`` for the action ``facts``, before it is recorded."""
        state = self.get(facts.session_key)
        if state is None:
            state = self._fresh(facts.agent, facts.mandate, facts.at)
        return state.block(facts)

    def observe(
        self, agent: str, mandate: str, labels: Iterable[str], injected: bool, now: datetime
    ) -> SessionState:
        """An enforcement point reported a tool result in this session: its ``labels`` join
        ``labels_seen`` (the agent has now read that data)."""
        state = self._state(agent, mandate, now)
        state.observe(labels, injected, now)
        self._keep(state)
        return state

    def _state(self, agent: str, mandate: str, now: datetime) -> SessionState:
        state = self._store.get(session_id(agent, mandate))
        return state if state is not None else self._fresh(agent, mandate, now)

    def _fresh(self, agent: str, mandate: str, now: datetime) -> SessionState:
        state = SessionState(session_id(agent, mandate), agent, mandate, now)
        suspension = self._suspended.get(state.id)
        if suspension is not None:
            state.suspend(suspension)
        return state

    def _keep(self, state: SessionState) -> None:
        self._dirty.add(state.id)
        dropped = self._store.put(state)
        if dropped is not None:
            self._dropped[dropped.id] = dropped.summary()
            self._dirty.discard(dropped.id)

    # -- administration -----------------------------------------------------------------------

    async def suspend(
        self, session_id: str, *, actor: str, reason: str, now: datetime
    ) -> dict[str, Any]:
        """Deny every further action of the session until it is resumed."""
        reason = _reason(reason)
        async with self._lock:
            state = await self._find(session_id)
            if state.suspended:
                raise SessionConflict(
                    f"session `{session_id}` is already suspended", code="already_suspended"
                )
            suspension = Suspension(reason, actor, now.isoformat())
            state.suspend(suspension)  # in force at once, before any I/O
            self._suspended[state.id] = suspension
            await self._summaries.upsert([state.summary()], now.isoformat())
        await self._audit.record(EventType.SESSION_SUSPENDED.value, _event(state, actor, reason))
        return state.summary()

    async def resume(
        self, session_id: str, *, actor: str, reason: str, now: datetime
    ) -> dict[str, Any]:
        """Lift a suspension."""
        reason = _reason(reason)
        async with self._lock:
            state = await self._find(session_id)
            suspension = state.suspension
            if suspension is None:
                raise SessionConflict(
                    f"session `{session_id}` is not suspended", code="not_suspended"
                )
            state.resume()
            try:
                await self._summaries.upsert([state.summary()], now.isoformat())
            except BaseException:
                state.suspend(suspension)  # not stored: stay suspended
                raise
            self._suspended.pop(state.id, None)
        await self._audit.record(EventType.SESSION_RESUMED.value, _event(state, actor, reason))
        return state.summary()

    async def _find(self, id: str) -> SessionState:
        """The session ``id`` in memory, or brought back from its stored summary."""
        state = self._store.get(id)
        if state is not None:
            return state
        summary = self._dropped.get(id) or await self._summaries.get(id)
        if summary is None:
            raise SessionNotFound(f"no session `{id}`")
        state = SessionState.from_summary(summary)
        self._keep(state)
        return state

    async def load(self, now: datetime) -> int:
        """Read the suspended sessions (at start); returns how many."""
        rows = await self._summaries.suspended()
        for row in rows:
            state = SessionState.from_summary(row)
            if state.suspension is not None:
                self._suspended[state.id] = state.suspension
            if self._store.get(state.id) is None:
                dropped = self._store.put(state)
                if dropped is not None:
                    self._dropped[dropped.id] = dropped.summary()
        return len(rows)

    async def flush(self, now: datetime) -> int:
        """Store the summaries of sessions changed since the last flush, then drop from
        memory the sessions idle longer than ``idle``. Returns how many summaries were stored."""
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            dropped, self._dropped = self._dropped, {}
            summaries = list(dropped.values())
            for id in dirty:
                state = self._store.get(id)
                if state is not None:
                    summaries.append(state.summary())
            try:
                if summaries:
                    await self._summaries.upsert(summaries, now.isoformat())
            except BaseException:
                self._dirty |= dirty
                self._dropped = {**dropped, **self._dropped}
                raise
            horizon = now - self.idle
            for state in self._store:
                if state.last_seen < horizon and state.id not in self._dirty:
                    self._store.pop(state.id)
            return len(summaries)

    async def list(
        self, agent: str | None = None, status: str | None = None, limit: int = 100
    ) -> builtins.list[dict[str, Any]]:
        """Session summaries, the most recently active first (memory, then stored)."""
        if status is not None and status not in {s.value for s in SessionStatus}:
            raise InvalidSessionInput(f"unknown status `{status}`", field="status")
        live = [s.summary() for s in self._store] + list(self._dropped.values())
        live = [s for s in live if _matches(s, agent, status)]
        stored = await self._summaries.page(agent, status, limit, exclude=[s["id"] for s in live])
        rows = live + stored
        rows.sort(key=lambda s: s["last_at"] or s["started_at"], reverse=True)
        return rows[:limit]

    async def show(self, session_id: str, now: datetime | None = None) -> dict[str, Any]:
        """One session: summary, windows and recent actions when in memory; else its summary."""
        state = self._store.get(session_id)
        if state is not None:
            return state.detail(now or datetime.now(UTC))
        summary = self._dropped.get(session_id) or await self._summaries.get(session_id)
        if summary is None:
            raise SessionNotFound(f"no session `{session_id}`")
        return {**summary, "windows": None, "recent": [], "in_memory": False}


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidSessionInput("a reason is required", field="reason")
    # Cut, never refused: a suspension must not fail because its explanation is long.
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _event(state: SessionState, actor: str, reason: str) -> dict[str, Any]:
    return {
        "session": state.id,
        "agent": state.agent,
        "mandate": state.mandate,
        "actor": actor,
        "reason": reason,
    }


def _matches(summary: Mapping[str, Any], agent: str | None, status: str | None) -> bool:
    return (agent is None or summary["agent"] == agent) and (
        status is None or summary["status"] == status
    )
