"""The MCP gateway end to end: a real upstream MCP server (FastMCP over streamable HTTP), a live
Warden fronting it at ``/mcp/erp`` with its own API key, and agents using the MCP SDK's own
client through the gateway with their Warden access tokens."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_peers import IBAN, McpPeer, mcp_peer

from warden.gateway.connections.models import AuthKind, Connection, Protocol

if TYPE_CHECKING:
    from conftest import LiveServer

__all__ = ["mcp_peer"]  # the fixture, used by name

ADMIN_TOKEN = "mcp-gateway-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
CLERK = f"spiffe://{DOMAIN}/agent/clerk"
PERSON = "ann@acme.example"
UPSTREAM_KEY = "erp-upstream-key-s3cr3t"
REQUEST = "Pay the approved invoices from Acme Supplies"
POLICIES = (
    '@id("all") permit (principal, action, resource);\n'
    '@id("no-contact-export") forbid (principal, action == Action::"invoke", '
    'resource == Tool::"erp.export_contacts");\n'
)
TOOLS = {
    "erp.read_invoice": {"read_only": True, "destructive": False, "external": False},
    "erp.transfer": {"read_only": False, "destructive": False, "external": True},
    "erp.export_contacts": {"read_only": True, "destructive": False, "external": False},
}
PROFILE = """
name: supplier-payments
description: Pay approved supplier invoices after reading them.
examples:
  - Pay the approved invoices from Acme Supplies
  - Settle supplier invoice INV-2041
tools:
  - tool: erp.read_invoice
    read_only: true
  - tool: erp.transfer
    arguments:
      amount:
        max: 10000
budgets:
  - name: payments
    tools: ["erp.transfer"]
    argument: amount
    limit: 5000
    currency: EUR
step_up:
  - tools: ["erp.transfer"]
    when: {argument: amount, over: 500}
"""


@dataclass
class World:
    server: LiveServer
    http: httpx.Client
    peer: McpPeer
    client: tuple[str, str]

    @property
    def mcp_url(self) -> str:
        return f"{self.server.url}/mcp/erp"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    def token(self, resource: str | None = None) -> str:
        form = {"grant_type": "client_credentials", "resource": resource or self.mcp_url}
        answer = self.http.post("/oauth2/token", data=form, auth=self.client)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def mandate(self, request: str = REQUEST) -> str:
        spec = {"person": PERSON, "request": request, "profile": "supplier-payments"}
        answer = self.admin("POST", "/v1/mandates", json={**spec, "agent": CLERK})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])


@pytest.fixture
def world(live_server: Callable[..., LiveServer], mcp_peer: McpPeer) -> Iterator[World]:
    server = live_server(ADMIN_TOKEN, trust_domain=DOMAIN)
    runtime = server.runtime
    assert runtime is not None
    with httpx.Client(base_url=server.url, timeout=20) as http:
        answer = http.post("/v1/policies", json={"policies": {"p.cedar": POLICIES}}, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        answer = http.post("/v1/profiles", content=PROFILE.encode(), headers=ADMIN)
        assert answer.status_code == 201, answer.text
        for name, annotations in TOOLS.items():
            tool = {"name": name, "annotations": annotations}
            assert http.post("/v1/tools", json=tool, headers=ADMIN).status_code == 201
        agent = {"id": CLERK, "display_name": "clerk", "owner": PERSON, "team": "finance"}
        assert http.post("/v1/agents", json=agent, headers=ADMIN).status_code == 201
        metadata = {
            "spiffe_id": CLERK,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "resources": [f"{server.url}/mcp/erp", f"{server.url}/mcp/other"],
        }
        answer = http.post("/oauth2/register", json=metadata, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        client = (answer.json()["client_id"], answer.json()["client_secret"])
        connection = Connection(
            name="erp",
            protocol=Protocol.MCP,
            url=mcp_peer.url,
            auth=AuthKind.API_KEY,
            params={"header": "X-Api-Key"},
            tool_prefix="erp.",
        )
        create = runtime.connections.create(
            connection, UPSTREAM_KEY, actor="test", now=datetime.now(UTC)
        )
        server.call(create)
        yield World(server, http, mcp_peer, client)


@contextlib.asynccontextmanager
async def connect(
    url: str, token: str, mandate: str | None = None
) -> AsyncIterator[tuple[ClientSession, Callable[[], str | None]]]:
    """The MCP SDK's client through the gateway, as an agent with ``token`` (and mandate)."""
    headers = {"Authorization": f"Bearer {token}"}
    if mandate is not None:
        headers["Txn-Token"] = mandate
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session, session_id


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def test_smoke(world: World) -> None:
    async with connect(world.mcp_url, world.token(), world.mandate()) as (session, _):
        tools = await session.list_tools()
        print([t.name for t in tools.tools])
        result = await session.call_tool("read_invoice", {"invoice_id": "INV-2041"})
        print(result)
        assert IBAN in text_of(result)
        denied = await session.call_tool("export_contacts", {})
        print(denied)
