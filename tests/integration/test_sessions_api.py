"""The session routes over HTTP, on a small FastAPI app with the real admin dependency and a
real store (SQLite and PostgreSQL): list, show, suspend, resume; roles and error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.access.models import Principal, Role
from warden.decisions.models import Outcome
from warden.server.auth import AdminAuth
from warden.sessions import SessionError, SessionService, session_id
from warden.sessions.api import session_error_response, sessions_router
from warden.sessions.facts import ActionFacts

TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
AUDITOR = {"Authorization": "Bearer auditor-token"}
AGENT = "spiffe://acme.example/agent/ap-clerk"
SID = session_id(AGENT, "m-1")


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, dict(payload)))


def _auditor(token: str) -> Principal | None:
    return Principal("audrey", frozenset({Role.AUDITOR})) if token == "auditor-token" else None


@pytest.fixture
def audit() -> Sink:
    return Sink()


@pytest.fixture
async def client(engine: AsyncEngine, audit: Sink) -> AsyncIterator[httpx.AsyncClient]:
    sessions = SessionService(engine, audit)
    now = datetime.now(UTC)
    action = ActionFacts(AGENT, "m-1", "payments.transfer", now, False, False, True,
                         frozenset({"payment"}), "c1", 48_000.0, (("amount", 48_000.0),),
                         ("mallory@evil.example",), ("evil.example",), 0, 0)  # fmt: skip
    sessions.record(action, Outcome.ALLOW)
    app = FastAPI()
    app.include_router(sessions_router(sessions, AdminAuth(TOKEN, people=_auditor)))

    @app.exception_handler(SessionError)
    async def _error(request: Request, exc: SessionError) -> JSONResponse:
        return session_error_response(exc)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warden") as http:
        yield http


async def test_auditor_lists_and_shows_without_argument_values(client: httpx.AsyncClient) -> None:
    listed = await client.get("/v1/sessions", params={"agent": AGENT}, headers=AUDITOR)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()["sessions"]] == [SID]
    shown = await client.get(f"/v1/sessions/{SID}", headers=AUDITOR)
    assert shown.status_code == 200
    body = shown.json()
    assert body["recent"][0]["tool"] == "payments.transfer"
    assert body["recent"][0]["outcome"] == "allow"
    assert body["windows"]["m10"]["actions"] == 1
    assert "48000" not in shown.text and "mallory" not in shown.text
    none = await client.get("/v1/sessions", params={"status": "suspended"}, headers=AUDITOR)
    assert none.json()["sessions"] == []


async def test_only_an_admin_suspends_and_resumes_and_each_is_audited(
    client: httpx.AsyncClient, audit: Sink
) -> None:
    refused = await client.post(
        f"/v1/sessions/{SID}/suspend", json={"reason": "odd"}, headers=AUDITOR
    )
    assert refused.status_code == 403
    assert (
        await client.post(f"/v1/sessions/{SID}/suspend", json={"reason": "odd"})
    ).status_code == 401
    done = await client.post(
        f"/v1/sessions/{SID}/suspend", json={"reason": "odd payments"}, headers=ADMIN
    )
    assert done.status_code == 200 and done.json()["status"] == "suspended"
    twice = await client.post(f"/v1/sessions/{SID}/suspend", json={"reason": "x"}, headers=ADMIN)
    assert twice.status_code == 409 and twice.json()["error"] == "already_suspended"
    resumed = await client.post(
        f"/v1/sessions/{SID}/resume", json={"reason": "checked"}, headers=ADMIN
    )
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    again = await client.post(f"/v1/sessions/{SID}/resume", json={"reason": "x"}, headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "not_suspended"
    assert [(t, p["actor"], p["reason"]) for t, p in audit.events] == [
        ("session:suspended", "admin", "odd payments"),
        ("session:resumed", "admin", "checked"),
    ]


async def test_bad_requests_get_clear_codes(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/sessions/ses_000000000000000000000000", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"] == "session_not_found"
    unknown = await client.post(
        "/v1/sessions/ses_000000000000000000000000/suspend", json={"reason": "x"}, headers=ADMIN
    )
    assert unknown.status_code == 404
    no_reason = await client.post(f"/v1/sessions/{SID}/suspend", json={}, headers=ADMIN)
    assert no_reason.status_code == 422
    bad_status = await client.get("/v1/sessions", params={"status": "asleep"}, headers=ADMIN)
    assert bad_status.status_code == 422
