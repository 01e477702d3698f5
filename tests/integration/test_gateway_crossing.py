"""One workflow across protocols: an agent reads an invoice through the MCP gateway and pays it
through the HTTP egress gateway, under one person's mandate. Whatever the protocol, the calls
land in the same session, spend the same budget and are recorded in the same ledger — and a
value the agent read over MCP is known, over HTTP, to have come from a tool. When Warden cannot
decide, neither gateway forwards anything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from http_peers import API_KEY, HttpPeer, http_peer
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_peers import IBAN, McpPeer, mcp_peer

from warden.gateway.connections.models import AuthKind, Connection, Protocol, Route

if TYPE_CHECKING:
    from conftest import LiveServer

__all__ = ["http_peer", "mcp_peer"]  # the fixtures, used by name

ADMIN_TOKEN = "crossing-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENT = "spiffe://acme.example/agent/payer"
PERSON = "ann@acme.example"
REQUEST = "Pay the approved invoices from Acme Supplies"
POLICY = '@id("all") permit (principal, action, resource);\n'
TOOLS = {
    "erp.read_invoice": {"read_only": True, "destructive": False, "external": False},
    "erp.transfer": {"read_only": False, "destructive": False, "external": True},
    "bank.payment": {"read_only": False, "destructive": False, "external": True},
}
# One budget over both ways of paying: the MCP tool and the bank's HTTP route.
PROFILE = """
name: supplier-payments
description: Pay approved supplier invoices after reading them.
examples:
  - Pay the approved invoices from Acme Supplies
tools:
  - tool: erp.read_invoice
    read_only: true
  - tool: erp.transfer
  - tool: bank.payment
budgets:
  - name: payments
    tools: ["erp.transfer", "bank.payment"]
    argument: amount
    limit: 1000
    currency: EUR
"""


@dataclass
class Crossing:
    server: LiveServer
    http: httpx.Client
    mcp_token: str
    egress_token: str
    mandate: str

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    @asynccontextmanager
    async def mcp(self) -> AsyncIterator[ClientSession]:
        headers = {"Authorization": f"Bearer {self.mcp_token}", "Txn-Token": self.mandate}
        async with (
            httpx.AsyncClient(headers=headers, timeout=30) as client,
            streamable_http_client(f"{self.server.url}/mcp/erp", http_client=client) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            yield session

    def pay_over_http(self, amount: float, iban: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.egress_token}", "Txn-Token": self.mandate}
        body = {"amount": amount, "iban": iban}
        return self.http.post("/egress/bank/payments", json=body, headers=headers)

    def decisions(self) -> list[dict[str, Any]]:
        params = {"limit": 1000}
        entries = self.admin("GET", "/v1/audit/entries", params=params).json()["entries"]
        return [e["payload"] for e in entries if e["event_type"].startswith("decision:")]


@pytest.fixture
def crossing(live_server: Any, mcp_peer: McpPeer, http_peer: HttpPeer) -> Iterator[Crossing]:
    server = live_server(ADMIN_TOKEN, trust_domain="acme.example")
    with httpx.Client(base_url=server.url, timeout=30) as http:

        def admin(method: str, path: str, **kwargs: Any) -> httpx.Response:
            answer = http.request(method, path, headers=ADMIN, **kwargs)
            assert answer.status_code < 300, answer.text
            return answer

        admin("POST", "/v1/policies", json={"policies": {"all.cedar": POLICY}})
        admin("POST", "/v1/profiles", content=PROFILE.encode())
        for name, annotations in TOOLS.items():
            admin("POST", "/v1/tools", json={"name": name, "annotations": annotations})
        agent = {"id": AGENT, "display_name": "payer", "owner": PERSON, "team": "finance"}
        admin("POST", "/v1/agents", json=agent)
        now = datetime.now(UTC)
        connections = server.runtime.connections
        mcp = Connection(
            "erp", Protocol.MCP, mcp_peer.url, AuthKind.API_KEY, {"header": "X-Api-Key"}
        )
        bank = Connection(
            "bank",
            Protocol.HTTP,
            http_peer.url,
            AuthKind.API_KEY,
            {"header": "X-Api-Key"},
            routes=(Route("POST", "/payments", "bank.payment"),),
        )
        server.call(connections.create(mcp, "erp-key", actor="test", now=now))
        server.call(connections.create(bank, API_KEY, actor="test", now=now))
        resources = [f"{server.url}/mcp/erp", f"{server.url}/egress/bank"]
        metadata = {
            "spiffe_id": AGENT,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "resources": resources,
        }
        client = admin("POST", "/oauth2/register", json=metadata).json()
        auth = (client["client_id"], client["client_secret"])

        def token(resource: str) -> str:
            form = {"grant_type": "client_credentials", "resource": resource}
            answer = http.post("/oauth2/token", data=form, auth=auth)
            assert answer.status_code == 200, answer.text
            return str(answer.json()["access_token"])

        spec = {"person": PERSON, "request": REQUEST, "profile": "supplier-payments"}
        mandate = admin("POST", "/v1/mandates", json=spec).json()["token"]
        yield Crossing(server, http, token(resources[0]), token(resources[1]), mandate)


def text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


async def test_a_workflow_across_mcp_and_http_is_judged_as_one(
    crossing: Crossing, mcp_peer: McpPeer, http_peer: HttpPeer
) -> None:
    async with crossing.mcp() as erp:
        read = await erp.call_tool("read_invoice", {"invoice_id": "INV-2041"})
        assert not read.isError and IBAN in text(read)
        # The IBAN the agent just read over MCP, paid over HTTP: allowed, and Warden knows
        # where the value came from.
        paid = await anyio.to_thread.run_sync(crossing.pay_over_http, 600, IBAN)
        assert paid.status_code == 201, paid.text
        # The same budget, spent again over MCP: 600 + 600 is over the 1000 EUR the person's
        # mandate allows, so the second payment is refused, whichever protocol carried the first.
        again = await erp.call_tool("transfer", {"amount": 600, "iban": IBAN})
        assert again.isError and "budget.exceeded" in text(again), text(again)
    assert mcp_peer.tool_calls("transfer") == []
    assert [r.path for r in http_peer.requests] == ["/payments"]

    decisions = crossing.decisions()
    tools = [d["resource"]["id"] for d in decisions]
    assert tools == ["erp.read_invoice", "bank.payment", "erp.transfer"]
    assert [d["outcome"] for d in decisions] == ["allow", "allow", "deny"]
    # One mandate, one session: the HTTP payment's argument is traced to the MCP read.
    mandates = {d["features"]["mandate"]["id"] for d in decisions}
    sessions = {d["features"]["session"]["id"] for d in decisions}
    assert len(mandates) == 1 and len(sessions) == 1
    http_payment = decisions[1]["features"]["mandate"]
    assert http_payment["provenance"]["iban"] == "tool_output"
    session = crossing.admin("GET", f"/v1/sessions/{sessions.pop()}").json()
    assert {"erp.read_invoice", "bank.payment"} <= set(session["tools_used"])
    assert session["agent"] == AGENT and session["denied"] == 1
    recent = [(a["tool"], a["outcome"]) for a in session["recent"]]
    assert recent == [
        ("erp.read_invoice", "allow"),
        ("bank.payment", "allow"),
        ("erp.transfer", "deny"),
    ]


async def test_neither_gateway_forwards_when_warden_cannot_decide(
    crossing: Crossing,
    mcp_peer: McpPeer,
    http_peer: HttpPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = crossing.server.runtime
    assert runtime is not None

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the policy store is unreachable")

    monkeypatch.setattr(runtime, "decide", broken)  # the decision path itself breaks
    async with crossing.mcp() as erp:
        refused = await erp.call_tool("read_invoice", {"invoice_id": "INV-2041"})
        assert refused.isError and "gateway.undecidable" in text(refused)
        paid = await anyio.to_thread.run_sync(crossing.pay_over_http, 10, IBAN)
    assert paid.status_code == 403 and "gateway.undecidable" in paid.text
    assert mcp_peer.tool_calls("read_invoice") == []
    assert http_peer.requests == []
