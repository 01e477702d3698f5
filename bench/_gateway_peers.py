"""The upstreams for bench/gateway.py, in their own process: an MCP server built with the SDK's
FastMCP (streamable HTTP at ``/mcp``) and a small Starlette JSON API (``/api/invoices/{id}``)
that requires an API key, both on one uvicorn server.

    python bench/_gateway_peers.py --port 8901 --api-key <key>
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
from collections.abc import AsyncIterator

import uvicorn
from mcp.server.fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

INVOICE = {
    "id": "INV-2041",
    "supplier": "Acme Supplies",
    "amount": 4200,
    "currency": "EUR",
    "iban": "DE89370400440532013000",
}


def build(api_key: str) -> Starlette:
    # Its shutdown (the gateway's session cut off) is noise here, not a finding.
    mcp = FastMCP("bench-upstream", json_response=True, log_level="CRITICAL")

    @mcp.tool()
    def read_invoice(invoice_id: str) -> dict[str, object]:
        """Read one supplier invoice."""
        return {**INVOICE, "id": invoice_id}

    async def invoice(request: Request) -> JSONResponse:
        presented = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(presented.encode(), api_key.encode()):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({**INVOICE, "id": request.path_params["invoice_id"]})

    mcp_app = mcp.streamable_http_app()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield

    return Starlette(
        routes=[
            Route("/api/invoices/{invoice_id}", invoice),
            Mount("/", app=mcp_app),
        ],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        build(args.api_key), host="127.0.0.1", port=args.port, access_log=False, log_level="warning"
    )
    uvicorn.Server(config).run()
