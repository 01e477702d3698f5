"""Sightings aggregated in memory between flushes: recording one is a dict update, no I/O.

Bounded: at most ``max_keys`` distinct identifiers wait for a flush (more are counted in
``dropped`` and logged at the next flush), and each keeps at most ``MAX_TOOLS`` tools and
``MAX_HUMANS`` people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from warden.shadow.models import (
    MAX_HUMANS,
    MAX_IDENTIFIER,
    MAX_SURFACES,
    MAX_TOOLS,
    Observation,
    SightingKind,
)

DEFAULT_MAX_KEYS = 10_000
_MAX_VALUE = 320  # characters kept of a surface, tool or person


@dataclass(slots=True)
class Pending:
    """What was seen of one identifier since the last flush."""

    kind: SightingKind
    identifier: str
    first_seen: datetime
    last_seen: datetime
    count: int = 0
    surfaces: dict[str, None] = field(default_factory=dict)  # ordered sets
    tools: dict[str, None] = field(default_factory=dict)
    humans: dict[str, None] = field(default_factory=dict)
    registry_status: str | None = None
    decision_id: str | None = None  # the first decision that saw it, for the ledger

    def absorb(self, other: Pending) -> None:
        """Add ``other`` (seen later, or put back after a failed flush) to this one."""
        self.count += other.count
        self.first_seen = min(self.first_seen, other.first_seen)
        if other.last_seen >= self.last_seen:
            self.last_seen = other.last_seen
            self.registry_status = other.registry_status
        for into, values, cap in (
            (self.surfaces, other.surfaces, MAX_SURFACES),
            (self.tools, other.tools, MAX_TOOLS),
            (self.humans, other.humans, MAX_HUMANS),
        ):
            for value in values:
                _add(into, value, cap)
        self.decision_id = self.decision_id or other.decision_id


def _add(into: dict[str, None], value: str | None, cap: int) -> None:
    value = value[:_MAX_VALUE] if value else None
    if value and value not in into and len(into) < cap:
        into[value] = None


class Tally:
    """The sightings not yet stored, keyed by (kind, identifier)."""

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._pending: dict[tuple[SightingKind, str], Pending] = {}
        self.dropped = 0

    def add(self, seen: Observation) -> None:
        identifier = seen.identifier[:MAX_IDENTIFIER]
        key = (seen.kind, identifier)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self._max_keys:
                self.dropped += 1
                return
            pending = self._pending[key] = Pending(seen.kind, identifier, seen.at, seen.at)
            pending.decision_id = seen.decision_id
        pending.count += 1
        pending.first_seen = min(pending.first_seen, seen.at)
        if seen.at >= pending.last_seen:
            pending.last_seen = seen.at
            pending.registry_status = seen.registry_status
        _add(pending.surfaces, seen.where, MAX_SURFACES)
        for tool in [seen.tool] if isinstance(seen.tool, str) else seen.tool or ():
            _add(pending.tools, tool, MAX_TOOLS)
        _add(pending.humans, seen.human, MAX_HUMANS)

    def take(self) -> tuple[list[Pending], int]:
        """Everything pending, and how many new identifiers were dropped; both reset."""
        pending, self._pending = list(self._pending.values()), {}
        dropped, self.dropped = self.dropped, 0
        return pending, dropped

    def restore(self, batch: list[Pending]) -> None:
        """Put back a batch that could not be stored (merged with what arrived since)."""
        for pending in batch:
            key = (pending.kind, pending.identifier)
            current = self._pending.get(key)
            if current is None:
                self._pending[key] = pending
            else:
                pending.absorb(current)
                self._pending[key] = pending

    def __len__(self) -> int:
        return len(self._pending)
