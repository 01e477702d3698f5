"""``warden approvals`` against a running server (a real uvicorn on loopback serving the
approval routes over a real SQLite store) with a person's approver token, and its refusal
to vote on the local store."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from typer.testing import CliRunner, Result

from warden.access.models import Role
from warden.access.service import AccessService
from warden.alerts.webhooks import WebhookNotifier
from warden.approvals import ApprovalError, ApprovalService, action_hash
from warden.approvals.api import approval_error_response, approvals_router
from warden.cli.main import app
from warden.server.auth import AdminAuth
from warden.store.db import migrate, open_engine, parse_database_url

TOKEN = "cli-admin-token"
AGENT = "spiffe://acme.example/agent/ap-clerk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Audit:
    async def record(self, event_type: str, payload: Any) -> None:
        pass


class Server:
    """The approval routes on uvicorn in a thread; ``call`` runs a coroutine on its loop."""

    def __init__(self, database: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.loop = asyncio.new_event_loop()
        self.database = parse_database_url(database)
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        await asyncio.to_thread(migrate, self.database)
        engine = open_engine(self.database)
        self.access = AccessService(engine, Audit())
        self.approvals = ApprovalService(engine, Audit(), WebhookNotifier(()), owners=lambda a: [])
        auth = AdminAuth(TOKEN, people=lambda t: self.access.authenticate(t, datetime.now(UTC)))
        api = FastAPI()
        api.include_router(approvals_router(self.approvals, auth))

        @api.exception_handler(ApprovalError)
        async def _error(request: Request, exc: ApprovalError) -> JSONResponse:
            return approval_error_response(exc)

        port = int(self.url.rsplit(":", 1)[1])
        self.server = uvicorn.Server(uvicorn.Config(api, port=port, log_level="warning"))
        try:
            await self.server.serve()
        finally:
            await engine.dispose()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not (self.server and self.server.started):  # readiness poll, bounded
            assert time.monotonic() < deadline and self.thread.is_alive(), "no server"
            time.sleep(0.02)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(f"sqlite:///{tmp_path / 'warden.db'}")
    running.start()
    yield running
    assert running.server is not None
    running.server.should_exit = True
    running.thread.join(20)
    running.loop.close()


def warden(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def test_an_approver_lists_shows_and_approves(server: Server) -> None:
    now = datetime.now(UTC)
    _, secret = server.call(
        server.access.issue("alice@acme.example", [Role.APPROVER], actor="admin", now=now)
    )
    held = server.call(
        server.approvals.hold(
            action_hash=action_hash(AGENT, "call", "tool", "payments.transfer", {}, None, None),
            decision_id="dec_1", agent=AGENT, person="carol@acme.example",
            tool="payments.transfer", mandate_id=None, chain_id=None, session_id=None,
            reasons=[{"code": "payments.large", "message": "over 10000"}],
            held={"arguments": {"amount": 48_000}}, now=now,
        )
    )  # fmt: skip
    env = {"WARDEN_URL": server.url, "WARDEN_TOKEN": secret}
    listed = warden("approvals", "list", "--status", "pending", "--json", env=env)
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.output)["approvals"]] == [held.id]
    shown = warden("approvals", "show", held.id, env=env)
    assert shown.exit_code == 0 and "48000" in shown.output and "payments.large" in shown.output
    voted = warden("approvals", "approve", held.id, "--comment", "invoice checked", env=env)
    assert voted.exit_code == 0, voted.output
    assert f"approve recorded on {held.id}" in voted.output and "approved" in voted.output
    stored = server.call(server.approvals.get(held.id))
    assert [(v.approver, v.comment) for v in stored.votes] == [
        ("alice@acme.example", "invoice checked")
    ]
    again = warden("approvals", "deny", held.id, env=env)
    assert again.exit_code != 0 and "approved" in again.output and "Traceback" not in again.output
    admin = warden("approvals", "deny", held.id, env={**env, "WARDEN_TOKEN": TOKEN})
    assert admin.exit_code != 0 and "approver" in admin.output


def test_voting_on_the_local_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    env = {"WARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WARDEN_URL": ""}
    refused = warden("approvals", "approve", "apr_x", env=env)
    assert refused.exit_code != 0 and isinstance(refused.exception, SystemExit)
    assert "WARDEN_URL" in refused.output and "approver" in refused.output
