"""A real HTTP upstream for the egress gateway: a small Starlette app served by uvicorn on a free
loopback port in its own thread, requiring an API key and recording every request it receives.

Routes (all need ``X-Api-Key: <key>``, else 401):

- ``GET /invoices/{id}``: a JSON invoice (404 for ``missing``); ``POST /payments``, ``POST
  /contacts/export``: JSON echoing the body; ``GET /echo``: a tiny JSON answer (benchmarks).
- ``GET /stream``: ``first\\n``, then waits for :attr:`HttpPeer.release` (set by the test),
  then ``second\\n``.
- ``GET /slow``: answers only once :attr:`HttpPeer.release` is set.
- ``GET /big?n=N``: N bytes with a ``Content-Length``; ``GET /big-stream?n=N``: N bytes in
  1 KiB chunks, without one.
- ``POST /token``: an OAuth token endpoint (client credentials, ``client_secret_basic`` with
  :data:`CLIENT_ID`/:data:`CLIENT_SECRET`) issuing :data:`ACCESS_TOKEN`, which every route
  also accepts as ``Authorization: Bearer``.

Waits on :attr:`release` are bounded (:data:`WAIT`), and :meth:`stop` sets it, so a failing test
never hangs the peer.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

WAIT = 10.0
"""Longest a peer handler waits for the test."""

API_KEY = "upstream-key-5f1c0e2a9b"
CLIENT_ID = "warden-at-erp"
CLIENT_SECRET = "erp-client-secret-77a1"
ACCESS_TOKEN = "erp-access-token-0c9d"  # what the peer's token endpoint issues


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class HttpPeer:
    """The upstream; ``requests`` lists what reached it (authenticated or not)."""

    api_key: str = API_KEY
    requests: list[Received] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)  # forms received
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def app(self) -> Starlette:
        async def record(request: Request) -> Response | None:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.requests.append(
                Received(request.method, request.url.path, request.url.query, headers, body)
            )
            bearer = hmac.compare_digest(headers.get("authorization", ""), f"Bearer {ACCESS_TOKEN}")
            if not bearer and not hmac.compare_digest(headers.get("x-api-key", ""), self.api_key):
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            return None

        async def token(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            self.token_requests.append(form)
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            presented = request.headers.get("authorization", "")
            if not hmac.compare_digest(presented, f"Basic {expected}"):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            issued = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300}
            return JSONResponse(issued)

        async def invoice(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            number = request.path_params["id"]
            if number == "missing":
                return JSONResponse({"error": "no such invoice"}, status_code=404)
            return JSONResponse(
                {"id": number, "supplier": "Acme Supplies", "iban": "DE89370400440532013000"},
                headers={"x-invoice-source": "erp", "set-cookie": "erp_session=abc"},
            )

        async def echo_body(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            return JSONResponse({"received": self.requests[-1].body.decode()}, status_code=201)

        async def echo(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            return JSONResponse({"ok": True})

        async def stream(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused

            async def chunks() -> AsyncIterator[bytes]:
                yield b"first\n"
                await asyncio.to_thread(self.release.wait, WAIT)
                yield b"second\n"

            return StreamingResponse(chunks(), media_type="text/plain")

        async def slow(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            await asyncio.to_thread(self.release.wait, WAIT)
            return JSONResponse({"late": True})

        async def big(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            return Response(b"x" * int(request.query_params["n"]), media_type="text/plain")

        async def big_stream(request: Request) -> Response:
            if (refused := await record(request)) is not None:
                return refused
            size = int(request.query_params["n"])

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, size, 1024):
                    yield b"y" * min(1024, size - start)

            return StreamingResponse(chunks(), media_type="text/plain")

        return Starlette(
            routes=[
                Route("/invoices/{id}", invoice),
                Route("/payments", echo_body, methods=["POST"]),
                Route("/contacts/export", echo_body, methods=["POST"]),
                Route("/echo", echo),
                Route("/stream", stream),
                Route("/slow", slow),
                Route("/big", big),
                Route("/big-stream", big_stream),
                Route("/token", token, methods=["POST"]),
            ]
        )

    def start(self) -> None:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=0, log_level="warning")
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # readiness poll, bounded
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the upstream did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


@pytest.fixture
def http_peer() -> Iterator[HttpPeer]:
    peer = HttpPeer()
    peer.start()
    yield peer
    peer.stop()
