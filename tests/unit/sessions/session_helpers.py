"""Helpers for the sessions tests: a list-collecting audit sink and action facts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from warden.sessions.facts import ActionFacts

AGENT = "spiffe://acme.example/agent/ap-clerk"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class ListSink:
    """An audit sink that keeps what it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))


def facts(tool: str, at: datetime, **overrides: Any) -> ActionFacts:
    """An action by AGENT without a mandate; ``call`` defaults to the tool (same call)."""
    values: dict[str, Any] = {
        "agent": AGENT,
        "mandate": "",
        "tool": tool,
        "at": at,
        "read_only": False,
        "destructive": False,
        "external": False,
        "labels": frozenset(),
        "call": tool,
        "amount": None,
        "numbers": (),
        "recipients": (),
        "destinations": (),
        "chain_depth": 0,
        "hour_of_week": at.weekday() * 24 + at.hour,
    }
    values.update(overrides)
    if isinstance(values["labels"], set):
        values["labels"] = frozenset(values["labels"])
    return ActionFacts(**values)
