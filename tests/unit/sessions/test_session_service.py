"""The session service: recording, observations, suspension that survives restarts, flushes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from session_helpers import AGENT, START, ListSink, facts
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.models import EventType
from warden.decisions.models import Outcome
from warden.sessions import (
    InvalidSessionInput,
    SessionConflict,
    SessionNotFound,
    SessionService,
    session_id,
)

SID = session_id(AGENT, "")
OTHER = "spiffe://acme.example/agent/hr-onboarder"


def test_record_starts_the_session_and_block_reads_it(sessions: SessionService) -> None:
    assert sessions.get((AGENT, "")) is None
    fresh = sessions.block(facts("erp.read", START))
    assert fresh["id"] == SID and fresh["actions"] == 0 and fresh["previous_tool"] == ""
    state = sessions.record(facts("erp.read", START), Outcome.ALLOW)
    assert sessions.get((AGENT, "")) is state
    assert sessions.block(facts("erp.read", START + timedelta(seconds=1)))["actions"] == 1


def test_observed_labels_join_labels_seen(sessions: SessionService) -> None:
    sessions.observe(AGENT, "", ["pii", "bank_details"], True, START)
    block = sessions.block(facts("mail.send", START, external=True))
    assert block["labels_seen"] == ["bank_details", "pii"]
    state = sessions.get((AGENT, ""))
    assert state is not None and state.observations == 1


async def test_suspension_is_audited_persisted_and_survives_a_restart(
    sessions: SessionService, audit: ListSink, sqlite_engine: AsyncEngine
) -> None:
    sessions.record(
        facts("pay", START, amount=48_000.0, recipients=("x@evil.example",)), Outcome.ALLOW
    )
    summary = await sessions.suspend(SID, actor="ann@acme.example", reason="odd", now=START)
    assert summary["status"] == "suspended" and summary["status_by"] == "ann@acme.example"
    assert audit.events == [
        (
            EventType.SESSION_SUSPENDED.value,
            {
                "session": SID,
                "agent": AGENT,
                "mandate": "",
                "actor": "ann@acme.example",
                "reason": "odd",
            },
        )
    ]
    assert "48000" not in repr(audit.events) and "evil.example" not in repr(audit.events)

    restarted = SessionService(sqlite_engine, ListSink())
    assert await restarted.load(START) == 1
    block = restarted.block(facts("erp.read", START + timedelta(hours=1)))
    assert block["suspended"] is True
    state = restarted.get((AGENT, ""))
    assert state is not None and state.suspension is not None
    assert state.suspension.reason == "odd"

    await restarted.resume(SID, actor="bob@acme.example", reason="checked", now=START)
    assert restarted.block(facts("erp.read", START))["suspended"] is False
    again = SessionService(sqlite_engine, ListSink())
    assert await again.load(START) == 0
    assert again.block(facts("erp.read", START))["suspended"] is False


async def test_suspend_and_resume_refuse_what_makes_no_sense(sessions: SessionService) -> None:
    with pytest.raises(SessionNotFound, match="ses_nope"):
        await sessions.suspend("ses_nope", actor="ann", reason="x", now=START)
    sessions.record(facts("erp.read", START), Outcome.ALLOW)
    with pytest.raises(SessionConflict) as not_suspended:
        await sessions.resume(SID, actor="ann", reason="x", now=START)
    assert not_suspended.value.code == "not_suspended"
    with pytest.raises(InvalidSessionInput) as blank:
        await sessions.suspend(SID, actor="ann", reason="  ", now=START)
    assert blank.value.field == "reason"
    await sessions.suspend(SID, actor="ann", reason="x", now=START)
    with pytest.raises(SessionConflict) as twice:
        await sessions.suspend(SID, actor="ann", reason="y", now=START)
    assert twice.value.code == "already_suspended"


async def test_a_suspension_holds_after_the_session_leaves_memory(
    sqlite_engine: AsyncEngine,
) -> None:
    sessions = SessionService(sqlite_engine, ListSink(), max_sessions=1)
    sessions.record(facts("erp.read", START), Outcome.ALLOW)
    await sessions.suspend(SID, actor="ann", reason="x", now=START)
    sessions.record(facts("erp.read", START, agent=OTHER), Outcome.ALLOW)  # pushes it out
    assert sessions.get((AGENT, "")) is None
    assert sessions.block(facts("erp.read", START))["suspended"] is True
    state = sessions.record(facts("erp.read", START), Outcome.DENY)
    assert state.suspended


async def test_flush_stores_changed_sessions_and_drops_idle_ones(sessions: SessionService) -> None:
    sessions.record(facts("erp.read", START, labels={"finance"}, read_only=True), Outcome.ALLOW)
    sessions.record(facts("erp.read", START, agent=OTHER), Outcome.ALLOW)
    assert await sessions.flush(START + timedelta(minutes=1)) == 2
    assert await sessions.flush(START + timedelta(minutes=2)) == 0  # nothing changed
    sessions.record(facts("erp.write", START + timedelta(hours=23), agent=OTHER), Outcome.ALLOW)
    assert await sessions.flush(START + timedelta(hours=25)) == 1
    assert sessions.get((AGENT, "")) is None  # idle for 25 h: dropped from memory
    assert sessions.get((OTHER, "")) is not None  # active 2 h ago: kept
    shown = await sessions.show(SID)
    assert shown["in_memory"] is False and shown["actions"] == 1
    assert shown["labels_seen"] == ["finance"] and shown["recent"] == []


async def test_the_least_recently_used_session_is_persisted_before_it_is_dropped(
    sqlite_engine: AsyncEngine,
) -> None:
    sessions = SessionService(sqlite_engine, ListSink(), max_sessions=2)
    for i in range(3):
        sessions.record(facts("erp.read", START, agent=f"{AGENT}-{i}"), Outcome.ALLOW)
    assert sessions.get((f"{AGENT}-0", "")) is None
    listed = await sessions.list()
    assert {s["agent"] for s in listed} == {f"{AGENT}-{i}" for i in range(3)}
    assert await sessions.flush(START) == 3
    shown = await sessions.show(session_id(f"{AGENT}-0", ""))
    assert shown["actions"] == 1 and shown["in_memory"] is False


async def test_list_filters_and_show_details_without_argument_values(
    sessions: SessionService,
) -> None:
    pay = facts("pay", START, amount=31_337.0, call="c1", recipients=("mallory@evil.example",))
    sessions.record(pay, Outcome.ALLOW)
    sessions.record(facts("erp.read", START, agent=OTHER), Outcome.ALLOW)
    await sessions.suspend(session_id(OTHER, ""), actor="ann", reason="x", now=START)
    await sessions.flush(START)
    assert [s["agent"] for s in await sessions.list(agent=AGENT)] == [AGENT]
    assert [s["agent"] for s in await sessions.list(status="suspended")] == [OTHER]
    assert len(await sessions.list(limit=1)) == 1
    with pytest.raises(InvalidSessionInput):
        await sessions.list(status="sleeping")
    shown = await sessions.show(SID, START + timedelta(seconds=5))
    assert shown["recent"] == [
        {"tool": "pay", "outcome": "allow", "at": START.isoformat(), "drift": None}
    ]
    assert shown["windows"]["m1"]["tools"] == {"pay": 1}
    assert "31337" not in repr(shown) and "mallory" not in repr(shown)
    with pytest.raises(SessionNotFound):
        await sessions.show("ses_unknown")


async def test_a_long_reason_is_cut_not_refused(sessions: SessionService) -> None:
    sessions.record(facts("erp.read", START), Outcome.ALLOW)
    summary = await sessions.suspend(SID, actor="warden", reason="drift " * 400, now=START)
    assert summary["status"] == "suspended" and len(summary["status_reason"]) == 500
