"""One session's state, kept in memory and updated in O(1) amortised time per action.

Every counter ``context.session`` exposes is maintained incrementally: sliding windows are
deques of per-action entries with running totals, evicted lazily as the clock moves (each
entry is appended once and evicted once per window), and the sets are kept with a cached
sorted copy rebuilt only when a set changes. Nothing here ever scans a session's history, so
a session of 10,000 actions builds its block as fast as one of 10.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from warden.decisions.models import Outcome
from warden.sessions.facts import ActionFacts
from warden.sessions.models import (
    MAX_DESTINATIONS,
    MAX_RECENT,
    WINDOWS,
    DriftMark,
    SessionStatus,
    Suspension,
)

FORMAT = 1  # version of the to_bytes() layout

# A window entry: (epoch seconds, tool, counted (allowed or held), destructive, external, amount)
Entry = tuple[float, str, bool, bool, bool, float]


class Window:
    """Totals over the actions of the last ``span`` seconds.

    An entry at time ``t`` is in the window at ``now`` when ``now - span < t <= now``.
    """

    __slots__ = (
        "_amounts",
        "_entries",
        "_tools",
        "actions",
        "denied",
        "destructive",
        "external",
        "span",
    )

    def __init__(self, span: float) -> None:
        self.span = span
        self._entries: deque[Entry] = deque()
        self._tools: dict[str, int] = {}
        self._amounts: dict[str, float] = {}
        self.actions = 0
        self.denied = 0
        self.destructive = 0
        self.external = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: Entry) -> None:
        self._entries.append(entry)
        self._count(entry, 1)

    def slide(self, now: float) -> int:
        """Drop the entries that left the window by ``now``; returns how many."""
        horizon = now - self.span
        entries = self._entries
        dropped = 0
        while entries and entries[0][0] <= horizon:
            self._count(entries.popleft(), -1)
            dropped += 1
        return dropped

    def tool(self, name: str) -> int:
        return self._tools.get(name, 0)

    def amount(self, name: str) -> float:
        return self._amounts.get(name, 0.0)

    def block(self, tool: str, amount: float | None) -> dict[str, int]:
        total = self._amounts.get(tool, 0.0) + (amount or 0.0)
        return {
            "actions": self.actions,
            "tool": self._tools.get(tool, 0),
            "destructive": self.destructive,
            "external": self.external,
            "denied": self.denied,
            "amount": round(total),
        }

    def totals(self) -> dict[str, Any]:
        """For display: the window's counters and its actions per tool."""
        return {
            "actions": self.actions,
            "destructive": self.destructive,
            "external": self.external,
            "denied": self.denied,
            "tools": dict(sorted(self._tools.items())),
        }

    def _count(self, entry: Entry, sign: int) -> None:
        _, tool, counted, destructive, external, amount = entry
        if not counted:
            self.denied += sign
            return
        self.actions += sign
        self.destructive += sign * destructive
        self.external += sign * external
        left = self._tools.get(tool, 0) + sign
        if left > 0:
            self._tools[tool] = left
            if amount:
                self._amounts[tool] = self._amounts.get(tool, 0.0) + sign * amount
        else:  # the tool left the window: drop its totals (no float residue either)
            self._tools.pop(tool, None)
            self._amounts.pop(tool, None)


class SessionState:
    """What one session (one agent under one mandate) has done so far.

    Read by the session analyser (:meth:`block`) and the drift analyser (``actions``,
    ``previous_tool``, ``drift``, :meth:`count`); changed only by :meth:`record` and
    :meth:`observe` (through the service) and by suspension.
    """

    __slots__ = (
        "_destinations",
        "_labels_changed",
        "_labels_seen",
        "_sorted",
        "_tools",
        "_windows",
        "actions",
        "agent",
        "denied",
        "drift",
        "id",
        "injected",
        "last_at",
        "last_call",
        "last_change",
        "last_seen",
        "mandate",
        "observations",
        "previous_tool",
        "recent",
        "repeat_run",
        "started_at",
        "status",
        "suspension",
    )

    def __init__(self, id: str, agent: str, mandate: str, started_at: datetime) -> None:
        self.id = id
        self.agent = agent
        self.mandate = mandate
        self.started_at = started_at
        self.last_at: datetime | None = None  # the last action allowed or held
        self.last_seen = started_at  # the last activity of any kind (for idle expiry)
        self.last_change: datetime | None = None  # the last allowed write of labelled data
        self.actions = 0
        self.denied = 0
        self.observations = 0
        self.injected = 0
        self.previous_tool: str | None = None
        self.last_call: str | None = None
        self.repeat_run = 0  # identical calls in a row, ending with last_call
        self.drift: DriftMark | None = None
        self.status = SessionStatus.ACTIVE
        self.suspension: Suspension | None = None
        self.recent: deque[tuple[str, str, datetime, float | None]] = deque(maxlen=MAX_RECENT)
        self._windows = {name: Window(span.total_seconds()) for name, span in WINDOWS.items()}
        self._tools: set[str] = set()
        self._labels_seen: set[str] = set()
        self._labels_changed: set[str] = set()
        self._destinations: set[str] = set()
        self._sorted: dict[str, list[str]] = {}

    # -- reading ------------------------------------------------------------------------------

    @property
    def suspended(self) -> bool:
        return self.status is SessionStatus.SUSPENDED

    @property
    def tools_used(self) -> list[str]:
        return self._sorted_of("tools_used", self._tools)

    @property
    def labels_seen(self) -> list[str]:
        return self._sorted_of("labels_seen", self._labels_seen)

    @property
    def labels_changed(self) -> list[str]:
        return self._sorted_of("labels_changed", self._labels_changed)

    @property
    def destinations(self) -> list[str]:
        return self._sorted_of("destinations", self._destinations)

    def count(self, window: str, now: datetime) -> int:
        """Actions allowed or held in ``window`` (m1, m10, h1 or d1) before ``now``."""
        slot = self._windows[window]
        slot.slide(now.timestamp())
        return slot.actions

    def held(self, window: str) -> int:
        """Entries the window holds right now (bounded by the actions inside it)."""
        return len(self._windows[window])

    def block(self, facts: ActionFacts) -> dict[str, Any]:
        """``context.session`` for ``facts``: the session before this action (the window
        ``amount`` sums include this action's amount)."""
        now = facts.at
        stamp = now.timestamp()
        windows = {}
        for name, slot in self._windows.items():
            slot.slide(stamp)
            windows[name] = slot.block(facts.tool, facts.amount)
        return {
            "id": self.id,
            "actions": self.actions,
            "tools_used": self.tools_used,
            "previous_tool": self.previous_tool or "",
            "labels_seen": self.labels_seen,
            "labels_changed": self.labels_changed,
            "destinations": self.destinations,
            "new_destination": facts.external
            and any(d not in self._destinations for d in facts.destinations),
            "repeats": self.repeat_run if facts.call == self.last_call else 0,
            "seconds_since_start": _seconds(self.started_at, now),
            "seconds_since_previous": -1 if self.last_at is None else _seconds(self.last_at, now),
            "seconds_since_change": (
                -1 if self.last_change is None else _seconds(self.last_change, now)
            ),
            **windows,
            "suspended": self.suspended,
        }

    # -- changing -----------------------------------------------------------------------------

    def record(self, facts: ActionFacts, outcome: Outcome, drift: DriftMark | None) -> None:
        """Count one decided action. Allowed and held actions count as actions; a denied one
        only in ``denied``; only an allowed one (it ran) adds labels and destinations."""
        now = facts.at
        stamp = now.timestamp()
        counted = outcome is not Outcome.DENY
        entry: Entry = (
            stamp,
            facts.tool,
            counted,
            facts.destructive,
            facts.external,
            facts.amount or 0.0,
        )
        for slot in self._windows.values():
            slot.slide(stamp)
            slot.add(entry)
        if facts.call == self.last_call:
            self.repeat_run += 1
        else:
            self.last_call, self.repeat_run = facts.call, 1
        self.last_seen = now
        if drift is not None:
            self.drift = drift
        self.recent.append((facts.tool, outcome.value, now, drift.score if drift else None))
        if not counted:
            self.denied += 1
            return
        self.actions += 1
        self.previous_tool = facts.tool
        self.last_at = now
        self._add("tools_used", self._tools, (facts.tool,))
        if outcome is Outcome.ALLOW:
            self._ran(facts)

    def observe(self, labels: Iterable[str], injected: bool, now: datetime) -> None:
        """A tool result came back in this session carrying ``labels``."""
        self.observations += 1
        self.injected += injected
        self.last_seen = max(self.last_seen, now)
        self._add("labels_seen", self._labels_seen, labels)

    def suspend(self, suspension: Suspension) -> None:
        self.status, self.suspension = SessionStatus.SUSPENDED, suspension

    def resume(self) -> None:
        self.status, self.suspension = SessionStatus.ACTIVE, None

    def _ran(self, facts: ActionFacts) -> None:
        self._add("labels_seen", self._labels_seen, facts.labels)
        if not facts.read_only and facts.labels:
            self._add("labels_changed", self._labels_changed, facts.labels)
            self.last_change = facts.at
        if facts.external and facts.destinations:
            room = MAX_DESTINATIONS - len(self._destinations)
            fresh = [d for d in facts.destinations if d not in self._destinations][: max(room, 0)]
            self._add("destinations", self._destinations, fresh)

    def _add(self, name: str, target: set[str], values: Iterable[str]) -> None:
        before = len(target)
        target.update(values)
        if len(target) != before:
            self._sorted.pop(name, None)

    def _sorted_of(self, name: str, source: set[str]) -> list[str]:
        cached = self._sorted.get(name)
        if cached is None:
            cached = self._sorted[name] = sorted(source)
        return cached

    # -- display and persistence --------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """What the ``sessions`` table keeps and the API lists (no argument values)."""
        suspension = self.suspension
        return {
            "id": self.id,
            "agent": self.agent,
            "mandate": self.mandate,
            "status": self.status.value,
            "status_reason": suspension.reason if suspension else "",
            "status_by": suspension.by if suspension else None,
            "status_at": suspension.at if suspension else None,
            "started_at": self.started_at.isoformat(),
            "last_at": self.last_at.isoformat() if self.last_at else None,
            "actions": self.actions,
            "denied": self.denied,
            "observations": self.observations,
            "tools_used": self.tools_used,
            "labels_seen": self.labels_seen,
            "labels_changed": self.labels_changed,
            "destinations": self.destinations,
            "drift": round(self.drift.session_score * 100) if self.drift else None,
        }

    def detail(self, now: datetime) -> dict[str, Any]:
        """The summary, the windows at ``now`` and the recent actions, latest last."""
        stamp = now.timestamp()
        windows = {}
        for name, slot in self._windows.items():
            slot.slide(stamp)
            windows[name] = slot.totals()
        recent = [
            {"tool": tool, "outcome": outcome, "at": at.isoformat(), "drift": _percent(score)}
            for tool, outcome, at, score in self.recent
        ]
        return {**self.summary(), "windows": windows, "recent": recent, "in_memory": True}

    def to_bytes(self) -> bytes:
        """The whole state (for a shared store such as Redis); :meth:`from_bytes` reverses it."""
        drift = self.drift
        return orjson.dumps(
            {
                "format": FORMAT,
                **self.summary(),
                "last_seen": self.last_seen.isoformat(),
                "last_change": self.last_change.isoformat() if self.last_change else None,
                "injected": self.injected,
                "previous_tool": self.previous_tool,
                "last_call": self.last_call,
                "repeat_run": self.repeat_run,
                "drift": [drift.score, drift.session_score, drift.run] if drift else None,
                "recent": [[t, o, a.isoformat(), s] for t, o, a, s in self.recent],
                "entries": list(self._windows["d1"]._entries),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionState:
        raw = orjson.loads(data)
        state = cls.from_summary(raw)
        state.last_seen = datetime.fromisoformat(raw["last_seen"])
        state.last_change = _when(raw["last_change"])
        state.injected = raw["injected"]
        state.previous_tool = raw["previous_tool"]
        state.last_call = raw["last_call"]
        state.repeat_run = raw["repeat_run"]
        if raw["drift"] is not None:
            score, session_score, run = raw["drift"]
            state.drift = DriftMark(score, session_score, run)
        state.recent.extend((t, o, datetime.fromisoformat(a), s) for t, o, a, s in raw["recent"])
        for item in raw["entries"]:
            entry: Entry = (item[0], item[1], item[2], item[3], item[4], item[5])
            for slot in state._windows.values():
                slot.add(entry)
        return state

    @classmethod
    def from_summary(cls, row: dict[str, Any]) -> SessionState:
        """A state rebuilt from a stored summary: counts, sets and status, empty windows."""
        state = cls(row["id"], row["agent"], row["mandate"], _when(row["started_at"]) or _EPOCH)
        state.last_at = _when(row["last_at"])
        state.last_seen = state.last_at or state.started_at
        state.actions, state.denied = row["actions"], row["denied"]
        state.observations = row["observations"]
        state._tools.update(row["tools_used"])
        state._labels_seen.update(row["labels_seen"])
        state._labels_changed.update(row["labels_changed"])
        state._destinations.update(row["destinations"][:MAX_DESTINATIONS])
        if row["status"] == SessionStatus.SUSPENDED.value:
            state.suspend(
                Suspension(row["status_reason"], row["status_by"] or "", row["status_at"] or "")
            )
        return state


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _seconds(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds()))


def _percent(score: float | None) -> int | None:
    return None if score is None else round(score * 100)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
