"""A real upstream MCP server for gateway tests: a FastMCP "ERP" served over streamable HTTP by
uvicorn on a free loopback port in its own thread, recording the headers of every request it
receives and every tool it ran, so tests can check what reached it (and what never did)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from mcp.server.fastmcp import FastMCP
from starlette.types import Receive, Scope, Send

IBAN = "DE89370400440532013000"
INVOICE_TEXT = "Invoice {id}: 1200.00 EUR due to Acme Supplies GmbH, IBAN " + IBAN
POLICY_URI = "erp://policies/payments"
POLICY_TEXT = "Payments over 10000 EUR need the CFO."


class McpPeer:
    """An upstream MCP server with tools ``read_invoice``, ``transfer`` and
    ``export_contacts``, the resource ``erp://policies/payments`` and the prompt
    ``summarize_invoice``. ``url`` is its MCP endpoint; ``headers`` holds the (lower-cased)
    headers of each HTTP request, ``calls`` each tool run as ``(name, arguments)``."""

    def __init__(self, port: int | None = None) -> None:
        self.headers: list[dict[str, str]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.app = self._build()
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _build(self) -> FastMCP[Any]:
        erp: FastMCP[Any] = FastMCP("erp", log_level="WARNING")
        calls = self.calls

        @erp.tool()
        def read_invoice(invoice_id: str) -> str:
            """Read a supplier invoice."""
            calls.append(("read_invoice", {"invoice_id": invoice_id}))
            return INVOICE_TEXT.format(id=invoice_id)

        @erp.tool()
        def transfer(amount: float, iban: str) -> str:
            """Pay ``amount`` EUR to ``iban``."""
            calls.append(("transfer", {"amount": amount, "iban": iban}))
            return f"paid {amount:.2f} EUR to {iban}"

        @erp.tool()
        def export_contacts() -> str:
            """Export every customer contact."""
            calls.append(("export_contacts", {}))
            return "ann@example.com, bob@example.com"

        @erp.resource(POLICY_URI)
        def payment_policy() -> str:
            """The payment policy."""
            return POLICY_TEXT

        @erp.prompt()
        def summarize_invoice(invoice_id: str) -> str:
            """Summarize an invoice."""
            return f"Summarize invoice {invoice_id} for the approver."

        return erp

    def _run(self) -> None:
        inner = self.app.streamable_http_app()
        seen = self.headers

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                seen.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await inner(scope, receive, send)

        config = uvicorn.Config(
            recording,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,  # an open event stream must not hold up the test
        )
        self._server = uvicorn.Server(config)
        asyncio.run(self._server.serve())

    def start(self) -> McpPeer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # readiness poll, bounded
            if self._server is not None and self._server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("the upstream MCP server did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(10)

    def tool_calls(self, name: str) -> list[dict[str, Any]]:
        return [arguments for tool, arguments in self.calls if tool == name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def mcp_peer() -> Iterator[McpPeer]:
    """A running upstream MCP server (see :class:`McpPeer`), stopped after the test."""
    peer = McpPeer().start()
    yield peer
    peer.stop()
