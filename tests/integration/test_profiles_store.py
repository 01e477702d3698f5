"""The versioned profile store through the runtime, on SQLite and PostgreSQL: the library on
first start, new versions (audited), history, old versions kept, a restart reads the store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.models import EventType
from warden.mandates.profiles import ProfileInvalid, ProfileNotFound
from warden.mandates.profiles.service import ProfileService
from warden.mandates.profiles.store import SqlProfileStore
from warden.runtime import Runtime

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

V2 = """\
name: leave-request
description: File a person's leave request, at most 20 days at once
examples: [Book me a week off in August]
tools:
  - tool: hr.leave.request
    arguments:
      days: {max: 20}
max_chain_depth: 1
flows: [{labels: [pii], may_reach: [internal]}]
"""


async def _profile_events(runtime: Runtime) -> list[dict[str, object]]:
    entries = await runtime.ledger_store.tail(100)
    return [dict(e.payload) for e in entries if e.event_type == EventType.PROFILE_APPLIED]


async def test_the_library_is_loaded_once_and_new_versions_are_kept(database_url: str) -> None:
    runtime = await Runtime.open(database_url)
    try:
        active = {p.name: p for p in runtime.profiles.active()}
        assert len(active) == 10 and active["leave-request"].version == 1
        seeded = await _profile_events(runtime)
        assert len(seeded) == 10
        assert {e["actor"] for e in seeded} == {"warden"}

        applied = await runtime.profiles.apply(V2, actor="ana@acme.example", now=NOW)
        assert applied.version == 2
        assert runtime.profiles.current("leave-request") is applied
        days = {"days": 25}
        refused = applied.judge(
            "hr.leave.request",
            days,
            provenance={},
            spent={},
            chain_depth=0,
            read_only=False,
            external=False,
            labels_in=frozenset(),
        )
        assert [v.rule for v in refused.violations] == ["argument.limit"]
        assert "at most 20" in refused.violations[0].message

        again = await runtime.profiles.apply(V2, actor="bo@acme.example", now=NOW)
        assert again.version == 2  # the same text is not a new version
        events = (await _profile_events(runtime))[10:]
        assert events == [
            {
                "actor": "ana@acme.example",
                "profile": "leave-request",
                "version": 2,
                "digest": applied.digest,
                "previous_version": 1,
            }
        ]
        history = await runtime.profiles.history("leave-request")
        assert [(r.version, r.author) for r in history] == [
            (2, "ana@acme.example"),
            (1, "warden"),
        ]
        assert history[0].yaml == V2 and history[0].created_at == NOW
        old = await runtime.profiles.get("leave-request", 1)
        assert old.version == 1 and old.in_scope("calendar.read")
    finally:
        await runtime.close()

    reopened = await Runtime.open(database_url)
    try:
        current = reopened.profiles.current("leave-request")
        assert current is not None and current.version == 2
        assert not current.in_scope("calendar.read")
        # every version is prepared in memory: a mandate pinned to version 1 keeps it
        pinned = [p.version for p in reopened.profiles.versions() if p.name == "leave-request"]
        assert pinned == [1, 2]
        told: list[list[tuple[str, int]]] = []
        reopened.profiles.on_change = lambda ps: told.append([(p.name, p.version) for p in ps])
        await reopened.profiles.apply(V2.replace("20 days", "20 working days"), actor="a", now=NOW)
        assert ("leave-request", 3) in told[0] and ("leave-request", 1) in told[0]
        assert len(reopened.profiles.active()) == 10
        assert len(await _profile_events(reopened)) == 12  # library, v2, v3: not applied again
    finally:
        await reopened.close()


async def test_an_invalid_profile_changes_nothing(database_url: str) -> None:
    runtime = await Runtime.open(database_url)
    try:
        with pytest.raises(ProfileInvalid) as caught:
            await runtime.profiles.apply(V2.replace("max: 20", "max: twenty"), actor="a", now=NOW)
        assert str(caught.value.problems[0]).startswith(
            "profile:7:19: `tools.0.arguments.days.max`: must be a number"
        )
        assert runtime.profiles.current("leave-request").version == 1  # type: ignore[union-attr]
        assert len(await runtime.profiles.history("leave-request")) == 1
        with pytest.raises(
            ProfileNotFound, match="no version 9 of purpose profile `leave-request`"
        ):
            await runtime.profiles.get("leave-request", 9)
        with pytest.raises(ProfileNotFound):
            await runtime.profiles.history("no-such-profile")
    finally:
        await runtime.close()


class Recorded:
    """The events a service hands its audit sink (the ledger itself is tested elsewhere)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, payload))


async def test_first_start_stores_the_library_and_says_so_once(engine: AsyncEngine) -> None:
    audit = Recorded()
    service = ProfileService(SqlProfileStore(engine), audit)
    told: list[int] = []
    service.on_change = lambda versions: told.append(len(versions))
    await service.load(NOW)
    assert told == [10]  # one refit of whoever listens, not one per profile
    assert [e[0] for e in audit.events] == ["profile:applied"] * 10

    again = ProfileService(SqlProfileStore(engine), Recorded())
    await again.load(NOW)
    assert [p.name for p in again.active()] == [p.name for p in service.active()]
    assert [(p.name, p.version) for p in again.versions()][:2] == [
        ("access-request", 1),
        ("ap-reconciliation", 1),
    ]
