"""Baselines kept in a real store (SQLite and PostgreSQL) and governed over HTTP: learned,
flushed, loaded by the next server as they were; freeze and reset stored at once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.behavior import BehaviorError, BehaviorService
from warden.behavior.api import baseline_error_response, baseline_router
from warden.server.auth import AdminAuth
from warden.sessions.facts import ActionFacts
from warden.store.schema import baselines

AGENT = "spiffe://acme.example/agent/ap-clerk"
TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class ListSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))


class _Session:
    """Just enough of a session for learning: its previous tool."""

    def __init__(self, previous: str | None) -> None:
        self.previous_tool, self.actions, self.drift = previous, 0, None

    def count(self, window: str, now: datetime) -> int:
        return 0


def _history(service: BehaviorService, agent: str = AGENT, profile: str | None = "ap") -> None:
    """Five days of an invoice clerk: 600 actions, amounts, a few vendors mailed."""
    rng = random.Random(5)
    previous: str | None = None
    for n in range(600):
        at = MONDAY + timedelta(days=n // 120, minutes=4 * (n % 120))
        tool = ("read_invoice", "approve_invoice", "send_email")[n % 3]
        vendor = f"vendor{rng.randrange(4)}.example"
        action = _facts(
            tool,
            at,
            agent=agent,
            numbers=(("amount", rng.lognormvariate(7, 0.8)),) if tool == "approve_invoice" else (),
            destinations=(vendor,) if tool == "send_email" else (),
            recipients=(f"ap@{vendor}",) if tool == "send_email" else (),
        )
        service.learn(action, _Session(previous), profile)
        previous = tool


def _facts(tool: str, at: datetime, **values: Any) -> ActionFacts:
    base: dict[str, Any] = {
        "agent": AGENT, "mandate": "", "tool": tool, "at": at, "read_only": False,
        "destructive": False, "external": tool == "send_email", "labels": frozenset(),
        "call": tool, "amount": None, "numbers": (), "recipients": (), "destinations": (),
        "chain_depth": 0, "hour_of_week": at.weekday() * 24 + at.hour,
    }  # fmt: skip
    return ActionFacts(**{**base, **values})


PROBES = [
    _facts("export_table", MONDAY + timedelta(days=6)),
    _facts("approve_invoice", MONDAY + timedelta(days=6), numbers=(("amount", 250_000.0),)),
    _facts("send_email", MONDAY + timedelta(days=6), destinations=("evil.example",)),
    _facts("read_invoice", MONDAY + timedelta(days=6, hours=17)),
]


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(baselines))).scalar_one())


async def test_a_flushed_baseline_scores_the_same_after_a_restart(engine: AsyncEngine):
    first = BehaviorService(engine, ListSink())
    _history(first)
    assert await first.flush(MONDAY) == 2  # the agent's and its profile's
    assert await first.flush(MONDAY) == 0  # nothing changed since
    assert await _rows(engine) == 2

    second = BehaviorService(engine, ListSink())
    await second.load()
    assert second.show(AGENT) == first.show(AGENT)
    for probe in PROBES:
        assert second.score(probe, None, "ap") == first.score(probe, None, "ap")
    assert first.score(PROBES[0], None, "ap").score >= 0.6
    profile = second.profile_baseline("ap")
    assert profile is not None and profile.actions == 600


async def test_learning_after_a_flush_is_stored_by_the_next_flush(engine: AsyncEngine):
    service = BehaviorService(engine, ListSink())
    _history(service)
    await service.flush(MONDAY)
    service.learn(_facts("flag_invoice", MONDAY + timedelta(days=6)), None, None)
    assert await service.flush(MONDAY + timedelta(days=6)) == 1
    again = BehaviorService(engine, ListSink())
    await again.load()
    assert {t["tool"] for t in again.show(AGENT)["tools"]} >= {"flag_invoice"}
    assert again.show(AGENT)["actions"] == 601


async def test_freeze_and_reset_are_stored_at_once(engine: AsyncEngine):
    audit = ListSink()
    service = BehaviorService(engine, audit)
    _history(service, profile=None)
    await service.freeze(AGENT, actor="ann", now=MONDAY, reason="incident")  # no flush
    restarted = BehaviorService(engine, ListSink())
    await restarted.load()
    assert restarted.show(AGENT)["frozen"] is True
    assert restarted.show(AGENT)["actions"] == 600

    await restarted.reset(AGENT, actor="bob", now=MONDAY)
    assert await _rows(engine) == 0
    third = BehaviorService(engine, ListSink())
    await third.load()
    assert third.baseline(AGENT) is None
    assert [e for e, _ in audit.events] == ["baseline:frozen"]


# -- HTTP ----------------------------------------------------------------------------------------


@pytest.fixture
async def http(engine: AsyncEngine) -> AsyncIterator[tuple[httpx.AsyncClient, ListSink]]:
    audit = ListSink()
    service = BehaviorService(engine, audit)
    _history(service)
    app = FastAPI()
    app.include_router(baseline_router(service, AdminAuth(TOKEN)))

    @app.exception_handler(BehaviorError)
    async def _errors(request: Any, exc: BehaviorError) -> Any:
        return baseline_error_response(exc)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as client:
        yield client, audit


async def test_baselines_over_http(http: tuple[httpx.AsyncClient, ListSink]):
    client, audit = http
    path = f"/v1/baselines/{AGENT}"
    assert (await client.get(path)).status_code == 401
    shown = await client.get(path, headers=ADMIN)
    assert shown.status_code == 200
    assert shown.json()["warm"] is True and shown.json()["frozen"] is False

    frozen = await client.post(f"{path}/freeze", json={"reason": "incident 7"}, headers=ADMIN)
    assert frozen.status_code == 200 and frozen.json()["frozen"] is True
    unfrozen = await client.post(f"{path}/unfreeze", headers=ADMIN)
    assert unfrozen.status_code == 200 and unfrozen.json()["frozen"] is False
    reset = await client.post(f"{path}/reset", json={}, headers=ADMIN)
    assert reset.json() == {"agent": AGENT, "reset": True}

    gone = await client.get(path, headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["error"] == "baseline_not_found"
    assert (await client.post(f"{path}/freeze", headers=ADMIN)).status_code == 404
    bad = await client.post(f"{path}/freeze", json={"why": "x"}, headers=ADMIN)
    assert bad.status_code == 422
    assert [(e, p["reason"]) for e, p in audit.events] == [
        ("baseline:frozen", "incident 7"),
        ("baseline:unfrozen", ""),
        ("baseline:reset", ""),
    ]
