"""Behavioural baselines: learn them, score actions against them, keep them, govern them.

On the decision path (every call O(1) in the history, no I/O):

- :meth:`BehaviorService.score` — the drift of an action against the agent's baseline when it
  is warm, else its purpose profile's (cold start), else none;
- :meth:`BehaviorService.learn` — after an *allowed* action, into the agent's baseline
  (unless frozen) and its profile's;
- :meth:`BehaviorService.mark` — what the session keeps of a result.

Off it: :meth:`load` at start, :meth:`flush` from housekeeping (only the baselines changed
since the last flush), and the administrator's :meth:`freeze`, :meth:`unfreeze`, :meth:`reset`
(stored at once and recorded in the ledger) and :meth:`show`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.models import EventType
from warden.behavior.baseline import HOURS, Baseline
from warden.behavior.drift import (
    DriftMark,
    DriftResult,
    DriftSettings,
    SessionLike,
    combine,
    explain,
    signals,
)
from warden.behavior.errors import BaselineNotFound
from warden.behavior.store import SqlBaselineStore, row_of
from warden.sessions.facts import ActionFacts

AGENT = "agent"
PROFILE = "profile"
_TOP = 10  # tools, transitions and domains shown
_SHOWN_ARGUMENTS = 50


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class BehaviorService:
    """Per-agent and per-profile baselines, learned online, and the drift of each action."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        audit: AuditSink,
        *,
        warmup_actions: int = 200,
        warmup_days: float = 3.0,
        settings: DriftSettings | None = None,
    ) -> None:
        """``engine`` None keeps baselines in memory only (benchmarks, tests)."""
        base = settings or DriftSettings()
        self.settings = DriftSettings(
            **{**_fields(base), "warmup_actions": warmup_actions, "warmup_days": warmup_days}
        )
        self._warm_span = timedelta(days=warmup_days)
        self._store = SqlBaselineStore(engine) if engine is not None else None
        self._audit = audit
        self._agents: dict[str, Baseline] = {}
        self._profiles: dict[str, Baseline] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._lock = asyncio.Lock()  # writes to the store, one at a time

    # -- the decision path ---------------------------------------------------------------------

    def score(
        self, facts: ActionFacts, session: SessionLike | None, profile: str | None
    ) -> DriftResult:
        """The drift of ``facts`` (``session`` as it was before the action). Pure read."""
        baseline, basis, who = self._basis(facts.agent, profile)
        warm = baseline is not None
        confidence = 1.0
        if baseline is None:
            baseline, confidence = self._partial(facts.agent)
            basis, who = ("agent", "this agent") if baseline is not None else ("none", "")
        if baseline is None:
            found: tuple[Any, ...] = ()
            score = 0.0
            explanation = self._cold(facts.agent)
        else:
            found = signals(baseline, facts, session, self.settings, who)
            if confidence < 1.0:
                found = tuple(
                    dataclasses.replace(f, strength=f.strength * confidence) for f in found
                )
            score = combine(found)
            explanation = explain(score, found)
            if confidence < 1.0:
                explanation += f" (weighed at {confidence:.0%}: {self._cold(facts.agent)})"
        mark = session.drift if session is not None else None
        s = self.settings
        session_score = s.ewma * score + (1.0 - s.ewma) * (mark.session_score if mark else 0.0)
        run = (mark.run if mark else 0) + 1 if score >= s.high else 0
        return DriftResult(
            score=score,
            signals=found,
            session_score=session_score,
            run=run,
            sustained=session_score >= s.sustained_score and run >= s.sustained_run,
            warm=warm,
            basis=basis,
            explanation=explanation,
        )

    def learn(self, facts: ActionFacts, session: SessionLike | None, profile: str | None) -> None:
        """Learn an allowed action (``session`` as it was before it). Frozen baselines don't."""
        previous = session.previous_tool if session is not None else None
        per_minute = session.count("m1", facts.at) + 1 if session is not None else 1
        agent = self._agents.get(facts.agent)
        if agent is None:
            agent = self._agents[facts.agent] = Baseline(AGENT, facts.agent)
        if not agent.frozen:
            agent.learn(facts, previous, per_minute)
            self._dirty.add((AGENT, facts.agent))
        if profile:
            shared = self._profiles.get(profile)
            if shared is None:
                shared = self._profiles[profile] = Baseline(PROFILE, profile)
            if not shared.frozen:
                shared.learn(facts, previous, per_minute)
                self._dirty.add((PROFILE, profile))

    def mark(self, result: DriftResult) -> DriftMark:
        """What the session keeps of ``result``."""
        return DriftMark(result.score, result.session_score, result.run)

    def baseline(self, agent: str) -> Baseline | None:
        """The agent's baseline, live (read it, don't change it)."""
        return self._agents.get(agent)

    def profile_baseline(self, profile: str) -> Baseline | None:
        return self._profiles.get(profile)

    def warm(self, baseline: Baseline) -> bool:
        return baseline.warm(self.settings.warmup_actions, self._warm_span)

    def _basis(self, agent: str, profile: str | None) -> tuple[Baseline | None, str, str]:
        own = self._agents.get(agent)
        if own is not None and self.warm(own):
            return own, AGENT, "this agent"
        shared = self._profiles.get(profile) if profile else None
        if shared is not None and self.warm(shared):
            return shared, PROFILE, f"agents under `{profile}`"
        return None, "none", ""

    def _partial(self, agent: str) -> tuple[Baseline | None, float]:
        """The agent's own baseline while it warms up, once it holds ``partial_from`` of the
        warm-up, and the share it holds (its signals are weighed by it): a cold agent is not a
        blind spot for a whole warm-up."""
        own = self._agents.get(agent)
        if own is None:
            return None, 0.0
        s = self.settings
        held = min(own.actions / s.warmup_actions, own.history() / self._warm_span)
        if held < s.partial_from:
            return None, 0.0
        return own, min(1.0, held)

    def _cold(self, agent: str) -> str:
        own = self._agents.get(agent)
        actions = own.actions if own else 0
        days = own.history() / timedelta(days=1) if own else 0.0
        s = self.settings
        return (
            f"no warm baseline yet: {actions:,} of {s.warmup_actions:,} actions "
            f"over {days:.1f} of {s.warmup_days:g} days"
        )

    # -- keeping -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the stored baselines (at start)."""
        if self._store is None:
            return
        for baseline in await self._store.all():
            kept = self._agents if baseline.kind == AGENT else self._profiles
            kept[baseline.subject] = baseline

    async def flush(self, now: datetime) -> int:
        """Store the baselines changed since the last flush; how many."""
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = [row_of(b, now) for k in dirty if (b := self._find(k)) is not None]
            if self._store is None or not rows:
                return len(rows)
            try:
                await self._store.save(rows)
            except BaseException:
                self._dirty |= dirty  # try again at the next flush
                raise
            return len(rows)

    def _find(self, key: tuple[str, str]) -> Baseline | None:
        kind, subject = key
        return (self._agents if kind == AGENT else self._profiles).get(subject)

    # -- governing -----------------------------------------------------------------------------

    async def freeze(self, agent: str, *, actor: str, now: datetime, reason: str = "") -> None:
        """Stop learning the agent's baseline (it is still used to score)."""
        await self._set_frozen(agent, True, actor=actor, now=now, reason=reason)

    async def unfreeze(self, agent: str, *, actor: str, now: datetime, reason: str = "") -> None:
        await self._set_frozen(agent, False, actor=actor, now=now, reason=reason)

    async def reset(self, agent: str, *, actor: str, now: datetime, reason: str = "") -> None:
        """Forget everything learned of the agent (frozen or not): it warms up again."""
        baseline = self._require(agent)
        async with self._lock:
            if self._store is not None:
                await self._store.delete(AGENT, agent)
            self._agents.pop(agent, None)
            self._dirty.discard((AGENT, agent))
        await self._record(EventType.BASELINE_RESET, baseline, actor, reason)

    async def _set_frozen(
        self, agent: str, frozen: bool, *, actor: str, now: datetime, reason: str
    ) -> None:
        baseline = self._require(agent)
        async with self._lock:
            baseline.frozen = frozen
            row = row_of(baseline, now)
            self._dirty.discard((AGENT, agent))  # before awaiting: later learning stays dirty
            if self._store is not None:
                await self._store.save([row])
        event = EventType.BASELINE_FROZEN if frozen else EventType.BASELINE_UNFROZEN
        await self._record(event, baseline, actor, reason)

    async def _record(self, event: EventType, baseline: Baseline, actor: str, reason: str) -> None:
        payload = {"agent": baseline.subject, "actions": baseline.actions, "actor": actor}
        await self._audit.record(event.value, {**payload, "reason": reason})

    def _require(self, agent: str) -> Baseline:
        baseline = self._agents.get(agent)
        if baseline is None:
            raise BaselineNotFound(f"no baseline learned for agent `{agent}`")
        return baseline

    def show(self, agent: str) -> dict[str, Any]:
        """What the agent's baseline holds, for people: shares, ranges and domains only."""
        b = self._require(agent)
        return {
            "agent": agent,
            "warm": self.warm(b),
            "frozen": b.frozen,
            "actions": b.actions,
            "first_at": b.first_at.isoformat() if b.first_at else None,
            "last_at": b.last_at.isoformat() if b.last_at else None,
            "days": round(b.history() / timedelta(days=1), 1),
            "warmup": {"actions": self.settings.warmup_actions, "days": self.settings.warmup_days},
            "tools": _tools(b),
            "transitions": _transitions(b),
            "hours": list(b.hours),
            "hours_active": sum(1 for h in range(HOURS) if b.hours[h]),
            "destinations": {
                "known": len(b.destinations),
                "novelty_rate": round(b.novelty_rate(), 4),
                "top": [{"domain": d, "count": c} for d, c in _top(b.destinations)],
            },
            "recipients_known": len(b.recipients),
            "arguments": _arguments(b),
            "chain_depth_max": b.max_depth,
            "rate_per_minute_p99": b.rate_quantile(),
        }


def _fields(settings: DriftSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def _top(counts: Mapping[Any, int], n: int = _TOP) -> list[tuple[Any, int]]:
    return heapq.nlargest(n, counts.items(), key=lambda item: item[1])


def _tools(b: Baseline) -> list[dict[str, Any]]:
    total = max(b.actions, 1)
    return [{"tool": t, "count": c, "share": round(c / total, 4)} for t, c in _top(b.tools)]


def _transitions(b: Baseline) -> list[dict[str, Any]]:
    return [
        {"from": p or None, "to": t, "count": c, "share": round(c / b.leaving[p], 4)}
        for (p, t), c in _top(b.transitions)
    ]


def _arguments(b: Baseline) -> list[dict[str, Any]]:
    shown = heapq.nlargest(_SHOWN_ARGUMENTS, b.arguments.items(), key=lambda i: i[1].moments.n)
    return [
        {
            "tool": tool,
            "argument": path,
            "calls": a.moments.n,
            "min": a.moments.lo,
            "max": a.moments.hi,
            "typical": round(math.copysign(math.expm1(abs(a.moments.mean)), a.moments.mean), 2),
        }
        for (tool, path), a in shown
    ]
