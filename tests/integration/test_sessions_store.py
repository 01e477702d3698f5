"""Session summaries in a real store (SQLite and PostgreSQL): flushes upsert, suspensions
survive a restart, sessions idle past the limit are shown from the table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from warden.decisions.models import Outcome
from warden.sessions import SessionService, session_id
from warden.sessions.facts import ActionFacts

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
AGENTS = [f"spiffe://acme.example/agent/a{i}" for i in range(3)]


class Sink:
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        pass


def _action(
    agent: str, tool: str, at: datetime, labels: frozenset[str] = frozenset()
) -> ActionFacts:
    return ActionFacts(agent, "m-1", tool, at, True, False, False, labels, tool, None, (), (), (),
                       0, 0)  # fmt: skip


async def test_flushes_upsert_and_suspensions_survive_a_restart(engine: AsyncEngine) -> None:
    sessions = SessionService(engine, Sink(), idle=timedelta(hours=1))
    for agent in AGENTS:
        sessions.record(_action(agent, "crm.read", START, frozenset({"pii"})), Outcome.ALLOW)
    assert await sessions.flush(START) == 3
    sessions.record(_action(AGENTS[0], "erp.read", START + timedelta(minutes=5)), Outcome.ALLOW)
    assert await sessions.flush(START + timedelta(minutes=6)) == 1  # an update, not an insert
    await sessions.suspend(session_id(AGENTS[1], "m-1"), actor="ann", reason="x", now=START)

    restarted = SessionService(engine, Sink())
    assert await restarted.load(START) == 1
    listed = await restarted.list(status="suspended")
    assert [s["agent"] for s in listed] == [AGENTS[1]]
    first = await restarted.show(session_id(AGENTS[0], "m-1"))
    assert first["in_memory"] is False
    assert (first["actions"], first["tools_used"]) == (2, ["crm.read", "erp.read"])
    assert first["labels_seen"] == ["pii"]
    assert {s["agent"] for s in await restarted.list()} == set(AGENTS)
