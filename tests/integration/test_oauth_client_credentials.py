"""Client credentials end to end: the real server (uvicorn on a free port, SQLite store)
driven by Authlib's OAuth 2 client with ``client_secret_basic`` and ``private_key_jwt``."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import warnings
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import update

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.store.schema import agents
from warden.tokens.settings import TokenSettings

with warnings.catch_warnings():  # Authlib 1.9 announces its move to httpx2 on import
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

ADMIN_TOKEN = "integration-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENT = "spiffe://acme.example/agent/ap-clerk"
KEYED_AGENT = "spiffe://acme.example/agent/ap-keyed"
API = "https://api.acme.example/ledger"


class Server:
    """A Warden server on its own event loop in a background thread."""

    def __init__(self, database: str, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._database = database
        self._port = port
        self.loop = asyncio.new_event_loop()
        self.runtime: Runtime | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),))

    async def _run(self) -> None:
        settings = TokenSettings(issuer=self.url, trust_domain="acme.example")
        self.runtime = await Runtime.open(self._database, token_settings=settings)
        app = create_app(self.runtime, admin_token=ADMIN_TOKEN)
        config = uvicorn.Config(app, host="127.0.0.1", port=self._port, log_level="warning")
        self._server = uvicorn.Server(config)
        try:
            await self._server.serve()
        finally:
            await self.runtime.close()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(20)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(f"sqlite:///{tmp_path / 'warden.db'}", _free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _register_agent(server: Server, agent_id: str) -> None:
    body = {"id": agent_id, "display_name": "AP clerk", "owner": "ann@acme.example", "team": "ap"}
    response = httpx.post(f"{server.url}/v1/agents", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


def _register_client(server: Server, **metadata: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/oauth2/register", json=metadata, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _suspend(server: Server, agent_id: str) -> None:
    """Suspend in the registry's store and let the registry's change hook refresh Warden
    (the registry has no lifecycle API yet)."""
    runtime = server.runtime
    assert runtime is not None

    async def suspend() -> None:
        async with runtime._engine.begin() as conn:
            await conn.execute(
                update(agents).where(agents.c.id == agent_id).values(status="suspended")
            )
        await runtime.refresh()

    server.call(suspend())


def _verify_with_jwks(server: Server, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims: dict[str, Any] = decoded.claims
    return claims


def _introspect(server: Server, client: dict[str, Any], token: str) -> dict[str, Any]:
    auth = (client["client_id"], client["client_secret"])
    response = httpx.post(f"{server.url}/oauth2/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_client_secret_basic_token_introspection_revocation(server: Server) -> None:
    _register_agent(server, AGENT)
    client = _register_client(server, spiffe_id=AGENT, scope="ledger:read", resources=[API])
    with OAuth2Client(client["client_id"], client["client_secret"], scope="ledger:read") as oauth:
        token = oauth.fetch_token(
            f"{server.url}/oauth2/token", grant_type="client_credentials", resource=API
        )
    assert token["token_type"] == "Bearer" and token["scope"] == "ledger:read"
    claims = _verify_with_jwks(server, token["access_token"])
    assert claims["iss"] == server.url and claims["sub"] == AGENT and claims["aud"] == API
    assert claims["client_id"] == AGENT and claims["exp"] - claims["iat"] == 600
    assert _introspect(server, client, token["access_token"])["active"] is True
    auth = (client["client_id"], client["client_secret"])
    revoked = httpx.post(
        f"{server.url}/oauth2/revoke", data={"token": token["access_token"]}, auth=auth
    )
    assert revoked.status_code == 200
    assert _introspect(server, client, token["access_token"]) == {"active": False}


def test_suspending_the_agent_deactivates_its_tokens_at_once(server: Server) -> None:
    _register_agent(server, AGENT)
    client = _register_client(server, spiffe_id=AGENT, scope="ledger:read")
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        token = oauth.fetch_token(f"{server.url}/oauth2/token", grant_type="client_credentials")
        assert _introspect(server, client, token["access_token"])["active"] is True
        _suspend(server, AGENT)
        assert _introspect(server, client, token["access_token"]) == {"active": False}
    again = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert again.status_code == 400
    assert again.json()["error"] == "unauthorized_client"
    assert "suspended" in again.json()["error_description"]


def test_private_key_jwt_with_authlib(server: Server) -> None:
    _register_agent(server, KEYED_AGENT)
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    client = _register_client(
        server,
        spiffe_id=KEYED_AGENT,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [public]},
        scope="ledger:read",
    )
    assert "client_secret" not in client
    token_url = f"{server.url}/oauth2/token"
    with OAuth2Client(
        KEYED_AGENT,
        key,  # Authlib takes a joserfc key object for EC keys
        token_endpoint_auth_method=PrivateKeyJWT(
            token_url, headers={"kid": key.thumbprint()}, alg="ES256"
        ),
    ) as oauth:
        token = oauth.fetch_token(token_url, grant_type="client_credentials")
    assert _verify_with_jwks(server, token["access_token"])["sub"] == KEYED_AGENT


def test_registered_agent_is_provisioned_and_gets_no_token(server: Server) -> None:
    new_agent = "spiffe://acme.example/agent/new-hire"
    client = _register_client(
        server, spiffe_id=new_agent, contacts=["owner@acme.example"], scope="ledger:read"
    )
    shown = httpx.get(f"{server.url}/v1/agents/{new_agent}", headers=ADMIN).json()
    assert shown["status"] == "provisioned"
    refused = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    entries = httpx.get(f"{server.url}/v1/audit/entries", headers=ADMIN)
    assert entries.status_code == 200
    created = [e for e in entries.json()["entries"] if e["event_type"] == "registry:agent:created"]
    assert created and created[-1]["payload"]["agent"]["status"] == "provisioned"
