"""Shared fixtures: real databases.

``database_url`` runs a test once on SQLite (a temp file) and once on PostgreSQL (a
throwaway database on the server at ``WARDEN_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``). Without a reachable PostgreSQL the
PostgreSQL variant is skipped locally; under CI (``CI`` set) it fails instead, so a
missing service cannot pass silently.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.settings import TokenSettings

PG_ADMIN_URL = os.environ.get(
    "WARDEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    if not postgres_available:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"warden_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warden.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on each supported store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warden.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


class LiveServer:
    """A real Warden server (uvicorn on a free loopback port) on its own event loop in a
    background thread, over a real store; ``call`` runs a coroutine on the server's loop."""

    def __init__(self, database: str, issuer_port: int, admin_token: str, **settings: Any) -> None:
        self.url = f"http://127.0.0.1:{issuer_port}"
        self._database = database
        self._port = issuer_port
        self._admin_token = admin_token
        self._settings = settings
        self.loop = asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        settings = TokenSettings(issuer=self.url, **self._settings)
        self.runtime = await Runtime.open(self._database, token_settings=settings)
        app = create_app(self.runtime, admin_token=self._admin_token)
        config = uvicorn.Config(app, host="127.0.0.1", port=self._port, log_level="warning")
        self._server = uvicorn.Server(config)
        try:
            await self._server.serve()
        finally:
            await self.runtime.close()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # readiness poll, bounded
            if self._server is not None and self._server.started:
                return
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(20)
        self.loop.close()

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a :class:`LiveServer` with ``live_server(admin_token, **token_settings)``;
    stopped at the end of the test."""
    started: list[LiveServer] = []

    def start(admin_token: str, **settings: Any) -> LiveServer:
        server = LiveServer(
            f"sqlite:///{tmp_path / f'live{len(started)}.db'}", free_port(), admin_token, **settings
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated async engine on each supported store (see ``database_url``)."""
    url = parse_database_url(database_url)
    await asyncio.to_thread(migrate, url)
    engine = open_engine(url)
    yield engine
    await engine.dispose()


class WebhookReceiver:
    """A real HTTP receiver on loopback for webhooks: answers the first ``failures`` POSTs
    with ``status`` (503: down), then 200, keeping each delivered (headers, body)."""

    def __init__(self) -> None:
        self.failures = 0
        self.status = 503
        self.attempts = 0
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.attempts += 1
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(receiver.status)
                else:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append((headers, body))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cr3t-path"


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
