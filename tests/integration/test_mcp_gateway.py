"""The MCP gateway end to end: a real upstream MCP server (FastMCP over streamable HTTP), a live
Warden fronting it at ``/mcp/erp`` with its own API key, and agents using the MCP SDK's own
client through the gateway with their Warden access tokens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp_peers import IBAN, POLICY_TEXT, POLICY_URI, McpPeer, free_port, mcp_peer
from pydantic import AnyUrl

from warden.gateway.connections.models import AuthKind, Connection, Limits, Protocol

if TYPE_CHECKING:
    from conftest import LiveServer

__all__ = ["mcp_peer"]  # the fixture, used by name

ADMIN_TOKEN = "mcp-gateway-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
CLERK = f"spiffe://{DOMAIN}/agent/clerk"
AUDITOR = f"spiffe://{DOMAIN}/agent/auditor"
PERSON = "ann@acme.example"
UPSTREAM_KEY = "erp-upstream-key-s3cr3t"
REQUEST = "Pay the approved invoices from Acme Supplies"
POLICIES = (
    '@id("all") permit (principal, action, resource);\n'
    '@id("no-contact-export") forbid (principal, action == Action::"invoke", '
    'resource == Tool::"erp.export_contacts");\n'
    '@id("no-prompts") forbid (principal, action, '
    'resource == Tool::"erp.prompt.summarize_invoice");\n'
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
    """A live Warden fronting the upstream ``mcp_peer`` as ``/mcp/erp`` (and a connection
    ``dead`` to a port nobody listens on), with two agents: ``clerk`` and ``auditor``."""

    server: LiveServer
    http: httpx.Client
    peer: McpPeer
    clients: dict[str, tuple[str, str]]
    dead_port: int = field(default_factory=free_port)

    def url(self, server: str = "erp") -> str:
        return f"{self.server.url}/mcp/{server}"

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    def token(self, agent: str = CLERK, resource: str | None = None) -> str:
        form = {"grant_type": "client_credentials", "resource": resource or self.url()}
        answer = self.http.post("/oauth2/token", data=form, auth=self.clients[agent])
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def mandate(self, request: str = REQUEST) -> str:
        spec = {"person": PERSON, "request": request, "profile": "supplier-payments"}
        answer = self.admin("POST", "/v1/mandates", json={**spec, "agent": CLERK})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])

    def decisions(self, tool: str) -> list[dict[str, Any]]:
        """The ledger's decisions on ``tool``, as an auditor reads them from the API."""
        answer = self.admin("GET", "/v1/audit/entries", params={"limit": 1000})
        entries = answer.json()["entries"]
        return [
            e["payload"]
            for e in entries
            if e["event_type"].startswith("decision:") and e["payload"]["resource"]["id"] == tool
        ]

    def register(self, agent: str) -> None:
        name = agent.rsplit("/", 1)[-1]
        body = {"id": agent, "display_name": name, "owner": PERSON, "team": "finance"}
        assert self.admin("POST", "/v1/agents", json=body).status_code == 201
        metadata = {
            "spiffe_id": agent,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "resources": [self.url("erp"), self.url("other"), self.url("dead")],
        }
        answer = self.admin("POST", "/oauth2/register", json=metadata)
        assert answer.status_code == 201, answer.text
        self.clients[agent] = (answer.json()["client_id"], answer.json()["client_secret"])


@pytest.fixture
def world(mcp_peer: McpPeer, live_server: Callable[..., LiveServer]) -> Iterator[World]:
    # The peer first: Warden stops before it, closing its upstream session.
    server = live_server(ADMIN_TOKEN, trust_domain=DOMAIN)
    runtime = server.runtime
    assert runtime is not None
    with httpx.Client(base_url=server.url, timeout=20) as http:
        world = World(server, http, mcp_peer, {})
        bundle = {"policies": {"p.cedar": POLICIES}}
        assert world.admin("POST", "/v1/policies", json=bundle).status_code == 201
        answer = world.admin("POST", "/v1/profiles", content=PROFILE.encode())
        assert answer.status_code == 201, answer.text
        for name, annotations in TOOLS.items():
            tool = {"name": name, "annotations": annotations}
            assert world.admin("POST", "/v1/tools", json=tool).status_code == 201
        world.register(CLERK)
        world.register(AUDITOR)
        now = datetime.now(UTC)
        erp = Connection(
            name="erp",
            protocol=Protocol.MCP,
            url=mcp_peer.url,
            auth=AuthKind.API_KEY,
            params={"header": "X-Api-Key"},
            tool_prefix="erp.",
        )
        server.call(runtime.connections.create(erp, UPSTREAM_KEY, actor="test", now=now))
        dead = Connection(
            name="dead",
            protocol=Protocol.MCP,
            url=f"http://127.0.0.1:{world.dead_port}/mcp",
            auth=AuthKind.NONE,
            tool_prefix="erp.",
            limits=Limits(timeout=5.0),
        )
        server.call(runtime.connections.create(dead, None, actor="test", now=now))
        yield world


@contextlib.asynccontextmanager
async def connect(
    url: str, token: str, mandate: str | None = None
) -> AsyncIterator[tuple[ClientSession, Callable[[], str | None]]]:
    """The MCP SDK's own client through the gateway, as an agent with ``token`` (and the
    mandate in ``Txn-Token``); yields the session and its MCP session id getter."""
    headers = {"Authorization": f"Bearer {token}"}
    if mandate is not None:
        headers["Txn-Token"] = mandate
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http, terminate_on_close=False) as (
            read,
            write,
            session_id,
        ),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session, session_id


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def person_token(world: World, who: str, *roles: str) -> dict[str, str]:
    answer = world.admin("POST", "/v1/access/tokens", json={"person": who, "roles": list(roles)})
    assert answer.status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def approve_when_held(world: World, who: dict[str, str]) -> str:
    """A person's side: wait (bounded) for the clerk's held call to show up among the pending
    approvals, then approve it."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        params = {"status": "pending", "agent": CLERK}
        pending = world.admin("GET", "/v1/approvals", params=params).json()["approvals"]
        if pending:
            approval = str(pending[0]["id"])
            answer = world.http.post(f"/v1/approvals/{approval}/approve", json={}, headers=who)
            assert answer.status_code == 200, answer.text
            return approval
        time.sleep(0.05)
    raise AssertionError("no call was held for approval")


# -- authentication -------------------------------------------------------------------------


def test_an_agent_without_a_token_for_this_server_is_pointed_to_its_metadata(
    world: World,
) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    answer = world.http.post("/mcp/erp", json=initialize)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    metadata_url = f"{world.server.url}/.well-known/oauth-protected-resource/mcp/erp"
    assert f'resource_metadata="{metadata_url}"' in challenge
    document = world.http.get(metadata_url).json()
    assert document["resource"] == world.url("erp")
    assert document["authorization_servers"] == [world.server.url]
    assert world.http.get("/.well-known/oauth-protected-resource/mcp/nope").status_code == 404

    # A valid token for another resource is no token for this one.
    other = world.token(resource=world.url("other"))
    answer = world.http.post(
        "/mcp/erp", json=initialize, headers={"Authorization": f"Bearer {other}"}
    )
    assert answer.status_code == 401 and "resource_metadata" in answer.headers["WWW-Authenticate"]
    malformed = world.http.post(
        "/mcp/erp", json=initialize, headers={"Authorization": "Bearer a b"}
    )
    assert malformed.status_code == 400
    # Authenticated for /mcp/other, which Warden does not front.
    answer = world.http.post(
        "/mcp/other", json=initialize, headers={"Authorization": f"Bearer {other}"}
    )
    assert answer.status_code == 404


# -- tools ----------------------------------------------------------------------------------


async def test_an_agent_is_shown_only_the_tools_it_may_use(world: World) -> None:
    async with connect(world.url(), world.token()) as (session, _):
        listed = {tool.name for tool in (await session.list_tools()).tools}
    assert listed == {"read_invoice", "transfer"}  # export_contacts is forbidden by policy


async def test_an_allowed_call_reaches_the_upstream_with_the_connections_key_only(
    world: World,
) -> None:
    token, mandate = world.token(), world.mandate()
    async with connect(world.url(), token, mandate) as (session, _):
        invoice = await session.call_tool("read_invoice", {"invoice_id": "INV-2041"})
        assert not invoice.isError and IBAN in text_of(invoice)
        # The agent pays to the IBAN it read: Warden knows where that value came from.
        paid = await session.call_tool("transfer", {"amount": 400, "iban": IBAN})
        assert not paid.isError and text_of(paid) == f"paid 400.00 EUR to {IBAN}"

    assert world.peer.tool_calls("read_invoice") == [{"invoice_id": "INV-2041"}]
    assert world.peer.headers, "the upstream saw no request"
    for seen in world.peer.headers:
        assert seen.get("x-api-key") == UPSTREAM_KEY
        assert "authorization" not in seen and "txn-token" not in seen
        assert "warden-chain" not in seen
        assert not any(token in value or mandate in value for value in seen.values())

    [read] = world.decisions("erp.read_invoice")
    assert read["outcome"] == "allow" and read["subject"]["id"] == CLERK
    [transfer] = world.decisions("erp.transfer")
    assert transfer["outcome"] == "allow"
    assert transfer["features"]["mandate"]["provenance"]["iban"] == "tool_output"
    assert "bank_details" in transfer["features"]["mandate"]["labels_in"]


async def test_a_refused_call_explains_why_and_never_reaches_the_upstream(world: World) -> None:
    async with connect(world.url(), world.token()) as (session, _):
        refused = await session.call_tool("export_contacts", {})
    assert refused.isError
    assert "no-contact-export" in text_of(refused) and "Warden refused" in text_of(refused)
    assert world.peer.tool_calls("export_contacts") == []
    [decision] = world.decisions("erp.export_contacts")
    assert decision["outcome"] == "deny" and decision["decision_id"] in text_of(refused)


async def test_a_held_payment_completes_once_a_person_approves_it(world: World) -> None:
    runtime = world.server.runtime
    assert runtime is not None
    runtime.gateway.hold_seconds = 15.0
    bob = person_token(world, "bob@acme.example", "approver")
    async with connect(world.url(), world.token(), world.mandate()) as (session, _):
        approving = asyncio.create_task(asyncio.to_thread(approve_when_held, world, bob))
        paid = await session.call_tool("transfer", {"amount": 900, "iban": IBAN})
        approval = await approving
    assert not paid.isError, text_of(paid)
    assert text_of(paid) == f"paid 900.00 EUR to {IBAN}"
    assert world.peer.tool_calls("transfer") == [{"amount": 900, "iban": IBAN}]
    # Released once, for exactly this payment.
    assert world.admin("GET", f"/v1/approvals/{approval}").json()["status"] == "used"


async def test_a_held_payment_nobody_approves_is_refused_and_not_sent(world: World) -> None:
    runtime = world.server.runtime
    assert runtime is not None
    runtime.gateway.hold_seconds = 1.0
    async with connect(world.url(), world.token(), world.mandate()) as (session, _):
        held = await session.call_tool("transfer", {"amount": 800, "iban": IBAN})
    assert held.isError and "approval.timeout" in text_of(held)
    assert world.peer.tool_calls("transfer") == []


# -- resources and prompts ------------------------------------------------------------------


async def test_resources_and_prompts_are_governed_like_tools(world: World) -> None:
    async with connect(world.url(), world.token()) as (session, _):
        resources = (await session.list_resources()).resources
        assert [str(r.uri) for r in resources] == [POLICY_URI]
        read = await session.read_resource(AnyUrl(POLICY_URI))
        assert [getattr(c, "text", None) for c in read.contents] == [POLICY_TEXT]
        assert (await session.list_prompts()).prompts == []
        with pytest.raises(McpError) as refused:
            await session.get_prompt("summarize_invoice", {"invoice_id": "INV-2041"})
    assert "no-prompts" in refused.value.error.message
    [decision] = world.decisions("erp.resource")
    assert decision["outcome"] == "allow" and decision["action"]["name"] == "read"


# -- sessions -------------------------------------------------------------------------------


async def test_an_mcp_session_belongs_to_the_agent_that_opened_it(world: World) -> None:
    async with connect(world.url(), world.token()) as (session, session_id):
        await session.list_tools()
        listing = {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}}
        headers = {
            "Authorization": f"Bearer {world.token(AUDITOR)}",
            "Mcp-Session-Id": str(session_id()),
            "Mcp-Protocol-Version": "2025-06-18",
            "Accept": "application/json, text/event-stream",
        }
        stolen = world.http.post("/mcp/erp", json=listing, headers=headers)
        assert stolen.status_code == 404
        assert len((await session.list_tools()).tools) == 2  # the owner's session still works


async def test_killing_an_agent_closes_its_mcp_sessions(world: World) -> None:
    kill = {"kind": "agent", "target": CLERK, "reason": "INC-9"}
    async with connect(world.url(), world.token(AUDITOR)) as (auditor, _):
        with pytest.raises(BaseExceptionGroup) as failed:
            async with connect(world.url(), world.token()) as (clerk, clerk_session):
                await clerk.list_tools()
                session = clerk_session()
                killed = world.admin("POST", "/v1/kill", json=kill).json()
                assert "closed 1 MCP session" in killed["effects"]
                await clerk.list_tools()  # the killed agent's client fails
        assert failed.group_contains(httpx.HTTPStatusError)
        assert len((await auditor.list_tools()).tools) == 2  # others' sessions stay open

    # Revived with a new token, the clerk cannot pick up its old session: it was closed.
    assert world.admin("POST", "/v1/revive", json=kill).status_code == 200
    headers = {
        "Authorization": f"Bearer {world.token()}",
        "Mcp-Session-Id": str(session),
        "Mcp-Protocol-Version": "2025-06-18",
        "Accept": "application/json, text/event-stream",
    }
    listing = {"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}}
    assert world.http.post("/mcp/erp", json=listing, headers=headers).status_code == 404


# -- the upstream failing -------------------------------------------------------------------


async def test_an_unreachable_upstream_is_a_tool_error_not_a_hang_and_is_reopened(
    world: World,
) -> None:
    token = world.token(resource=world.url("dead"))
    async with connect(world.url("dead"), token) as (session, _):
        with anyio.fail_after(15):
            failed = await session.call_tool("read_invoice", {"invoice_id": "INV-1"})
    assert failed.isError
    assert "upstream `dead` could not be reached" in text_of(failed)
    assert "Warden refused" not in text_of(failed)
    [decision] = world.decisions("erp.read_invoice")
    assert decision["outcome"] == "allow"  # Warden allowed it; the upstream failed

    # The upstream comes up: the next call opens a session to it, no restart needed.
    revived = McpPeer(world.dead_port).start()
    try:
        async with connect(world.url("dead"), token) as (session, _):
            with anyio.fail_after(15):
                invoice = await session.call_tool("read_invoice", {"invoice_id": "INV-1"})
        assert not invoice.isError and IBAN in text_of(invoice)
        assert revived.tool_calls("read_invoice") == [{"invoice_id": "INV-1"}]
    finally:
        world.server.stop()  # Warden first: it closes its session to the upstream
        revived.stop()


async def test_a_restarted_upstream_is_reconnected_without_losing_a_call(world: World) -> None:
    async with connect(world.url(), world.token()) as (session, _):
        first = await session.call_tool("read_invoice", {"invoice_id": "INV-1"})
        assert not first.isError
        world.peer.stop()  # the upstream restarts: it no longer knows the gateway's session
        restarted = McpPeer(world.peer.port).start()
        try:
            with anyio.fail_after(15):
                second = await session.call_tool("read_invoice", {"invoice_id": "INV-2"})
            assert not second.isError and IBAN in text_of(second)
            assert restarted.tool_calls("read_invoice") == [{"invoice_id": "INV-2"}]
        finally:
            world.server.stop()  # Warden first: it closes its session to the upstream
            restarted.stop()
