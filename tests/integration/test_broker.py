"""The credential broker against a real authorization server — a live Warden standing in for
an upstream's — with Warden-the-gateway registered there as a confidential client: client
credentials and RFC 8693 token exchange for an agent, each token checked against the server's
JWKS, cached (a second call asks nothing), fetched once for concurrent calls, and a refusal
reported without a secret."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from warden.gateway.broker import CredentialBroker
from warden.gateway.connections.errors import UpstreamAuthFailed
from warden.gateway.connections.models import AuthKind, Connection, Protocol
from warden.gateway.connections.service import ConnectionService
from warden.tokens.models import TOKEN_EXCHANGE_GRANT

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import LiveServer

ADMIN = {"Authorization": "Bearer broker-admin-token-0123456789"}
DOMAIN = "acme.example"
API = "https://erp.acme.example/api"  # the upstream resource the tokens are for
GATEWAY = f"spiffe://{DOMAIN}/gateway/warden"  # Warden-the-gateway, a client of the upstream
CLERK = f"spiffe://{DOMAIN}/agent/clerk"  # the agent calling through the gateway


@dataclass
class Upstream:
    """The upstream's authorization server (a live Warden) and its registered clients."""

    server: LiveServer
    http: httpx.Client
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)

    def register(self, agent: str, grants: list[str]) -> None:
        spec = {"id": agent, "display_name": agent.rsplit("/", 1)[1], "owner": "ann@acme.example",
                "team": "finance"}  # fmt: skip
        assert self.http.post("/v1/agents", json=spec, headers=ADMIN).status_code == 201
        metadata = {
            "spiffe_id": agent,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": grants,
            "scope": "invoices:read invoices:pay",
            "resources": [API],
        }
        answer = self.http.post("/oauth2/register", json=metadata, headers=ADMIN)
        assert answer.status_code == 201, answer.text
        self.clients[agent] = (answer.json()["client_id"], answer.json()["client_secret"])

    def agent_token(self) -> str:
        """The clerk's own access token, as it would present it to the gateway."""
        form = {"grant_type": "client_credentials", "resource": API}
        answer = self.http.post("/oauth2/token", data=form, auth=self.clients[CLERK])
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def claims(self, authorization: str) -> dict[str, Any]:
        scheme, _, token = authorization.partition(" ")
        assert scheme == "Bearer"
        jwks = KeySet.import_key_set(self.http.get("/.well-known/jwks.json").json())
        return dict(jwt.decode(token, jwks, algorithms=["ES256"]).claims)

    def connection(self, name: str, auth: AuthKind, secret: str, **params: str) -> Connection:
        """A connection to the upstream, stored (its secret encrypted) by the live runtime."""
        runtime = self.server.runtime
        assert runtime is not None
        spec = Connection(
            name=name,
            protocol=Protocol.MCP,
            url="http://127.0.0.1:9/mcp",
            auth=auth,
            params={"client_id": self.clients[GATEWAY][0], "token_url": self.token_url, **params},
        )
        now = datetime.now(UTC)
        stored: Connection = self.server.call(
            runtime.connections.create(spec, secret, actor="admin", now=now)
        )
        return stored

    @property
    def token_url(self) -> str:
        return f"{self.server.url}/oauth2/token"

    @property
    def connections(self) -> ConnectionService:
        assert self.server.runtime is not None
        return self.server.runtime.connections


@pytest.fixture
def upstream(live_server: Callable[..., LiveServer]) -> Iterator[Upstream]:
    server = live_server(ADMIN["Authorization"].split()[1], trust_domain=DOMAIN)
    with httpx.Client(base_url=server.url, timeout=20) as http:
        found = Upstream(server, http)
        found.register(GATEWAY, ["client_credentials", TOKEN_EXCHANGE_GRANT])
        found.register(CLERK, ["client_credentials"])
        yield found


class Counted:
    """An HTTP client factory for the broker that counts the requests it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, timeout: httpx.Timeout) -> httpx.AsyncClient:
        async def count(request: httpx.Request) -> None:
            form = dict(httpx.QueryParams(request.content.decode()))
            self.sent.append(form["grant_type"])

        return httpx.AsyncClient(timeout=timeout, event_hooks={"request": [count]})


async def test_client_credentials_gets_the_gateways_own_token_once(upstream: Upstream) -> None:
    secret = upstream.clients[GATEWAY][1]
    connection = upstream.connection(
        "erp", AuthKind.CLIENT_CREDENTIALS, secret, resource=API, scope="invoices:read"
    )
    counted = Counted()
    broker = CredentialBroker(upstream.connections, client=counted)
    headers = await broker.headers(connection, subject_token=None)
    claims = upstream.claims(headers["Authorization"])
    assert claims["sub"] == GATEWAY and claims["aud"] == API
    assert claims["scope"] == "invoices:read" and claims["iss"] == upstream.server.url
    assert await broker.headers(connection, subject_token=None) == headers
    assert counted.sent == ["client_credentials"]  # the second call asked nothing

    # Concurrent first calls share one request.
    counted = Counted()
    fresh = CredentialBroker(upstream.connections, client=counted)
    answers = await asyncio.gather(
        *(fresh.headers(connection, subject_token=None) for _ in range(8))
    )
    assert len({a["Authorization"] for a in answers}) == 1
    assert counted.sent == ["client_credentials"]

    # Forgotten (say the upstream refused it): the next call fetches a new one.
    fresh.forget("erp")
    renewed = await fresh.headers(connection, subject_token=None)
    assert renewed != answers[0] and counted.sent == ["client_credentials"] * 2


async def test_token_exchange_acts_for_the_calling_agent(upstream: Upstream) -> None:
    secret = upstream.clients[GATEWAY][1]
    connection = upstream.connection(
        "erp", AuthKind.TOKEN_EXCHANGE, secret, resource=API, actor_token="client_credentials"
    )
    counted = Counted()
    broker = CredentialBroker(upstream.connections, client=counted)
    presented = upstream.agent_token()
    headers = await broker.headers(connection, subject_token=presented)
    claims = upstream.claims(headers["Authorization"])
    assert claims["sub"] == CLERK  # the upstream sees the agent...
    assert claims["act"]["sub"] == GATEWAY  # ...acted for by the gateway
    assert claims["aud"] == API and claims["client_id"] == upstream.clients[GATEWAY][0]
    assert counted.sent == ["client_credentials", TOKEN_EXCHANGE_GRANT]  # actor token, exchange

    assert await broker.headers(connection, subject_token=presented) == headers
    assert len(counted.sent) == 2  # cached per subject token
    other = await broker.headers(connection, subject_token=upstream.agent_token())
    assert other != headers and upstream.claims(other["Authorization"])["sub"] == CLERK
    assert counted.sent[2:] == [TOKEN_EXCHANGE_GRANT]  # the actor token was reused

    with pytest.raises(UpstreamAuthFailed, match="presented no token"):
        await broker.headers(connection, subject_token=None)


async def test_a_refusing_or_unreachable_token_endpoint_fails_without_a_secret(
    upstream: Upstream,
) -> None:
    wrong = "not-the-client-secret-Zq81"
    refused_cc = upstream.connection("erp", AuthKind.CLIENT_CREDENTIALS, wrong, resource=API)
    broker = CredentialBroker(upstream.connections)
    with pytest.raises(UpstreamAuthFailed) as refused:
        await broker.headers(refused_cc, subject_token=None)
    assert "`erp`" in refused.value.message and "401 `invalid_client`" in refused.value.message
    assert wrong not in refused.value.message

    secret = upstream.clients[GATEWAY][1]
    exchange = upstream.connection("crm", AuthKind.TOKEN_EXCHANGE, secret, resource=API)
    bogus = "eyJhbGciOiJFUzI1NiJ9.e30.c2lnbmF0dXJl"
    with pytest.raises(UpstreamAuthFailed) as bad_subject:
        await broker.headers(exchange, subject_token=bogus)
    assert "invalid_request" in bad_subject.value.message
    assert bogus not in bad_subject.value.message and secret not in bad_subject.value.message

    runtime = upstream.server.runtime
    assert runtime is not None
    down = Connection(
        name="down", protocol=Protocol.MCP, url="http://127.0.0.1:9/mcp",
        auth=AuthKind.CLIENT_CREDENTIALS,
        params={"client_id": "c", "token_url": f"http://127.0.0.1:{_closed_port()}/token"},
    )  # fmt: skip
    upstream.server.call(
        runtime.connections.create(down, secret, actor="admin", now=datetime.now(UTC))
    )
    with pytest.raises(UpstreamAuthFailed, match="cannot be reached"):
        await broker.headers(await _get(upstream, "down"), subject_token=None)


async def test_static_credentials_need_no_token_endpoint(upstream: Upstream) -> None:
    runtime = upstream.server.runtime
    assert runtime is not None
    keyed = Connection(
        name="keyed", protocol=Protocol.MCP, url="http://127.0.0.1:9/mcp", auth=AuthKind.API_KEY,
        params={"header": "Authorization", "prefix": "Bearer "},
    )  # fmt: skip
    upstream.server.call(
        runtime.connections.create(keyed, "k-123", actor="admin", now=datetime.now(UTC))
    )
    broker = CredentialBroker(upstream.connections, client=Counted())
    keyed_headers = await broker.headers(await _get(upstream, "keyed"), subject_token="ignored")
    assert keyed_headers == {"Authorization": "Bearer k-123"}


async def _get(upstream: Upstream, name: str) -> Connection:
    runtime = upstream.server.runtime
    assert runtime is not None
    found: Connection = upstream.server.call(runtime.connections.get(name))
    return found


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
