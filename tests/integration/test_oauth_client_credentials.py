"""Client credentials end to end: the real server (uvicorn on a free port, SQLite store)
driven by Authlib's OAuth 2 client with ``client_secret_basic`` and ``private_key_jwt``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import update

from conftest import LiveServer
from warden.store.schema import agents

with warnings.catch_warnings():  # Authlib 1.9 announces its move to httpx2 on import
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import OAuth2Client

ADMIN_TOKEN = "integration-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENT = "spiffe://acme.example/agent/ap-clerk"
KEYED_AGENT = "spiffe://acme.example/agent/ap-keyed"
API = "https://api.acme.example/ledger"


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(ADMIN_TOKEN, trust_domain="acme.example")


def _register_agent(server: LiveServer, agent_id: str) -> None:
    body = {"id": agent_id, "display_name": "AP clerk", "owner": "ann@acme.example", "team": "ap"}
    response = httpx.post(f"{server.url}/v1/agents", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text


def _register_client(server: LiveServer, **metadata: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/oauth2/register", json=metadata, headers=ADMIN)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _suspend(server: LiveServer, agent_id: str) -> None:
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


def _verify_with_jwks(server: LiveServer, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(f"{server.url}/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    claims: dict[str, Any] = decoded.claims
    return claims


def _introspect(server: LiveServer, client: dict[str, Any], token: str) -> dict[str, Any]:
    auth = (client["client_id"], client["client_secret"])
    response = httpx.post(f"{server.url}/oauth2/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_client_secret_basic_token_introspection_revocation(server: LiveServer) -> None:
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


def test_suspending_the_agent_deactivates_its_tokens_at_once(server: LiveServer) -> None:
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


def test_private_key_jwt_with_authlib(server: LiveServer) -> None:
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


def test_registered_agent_is_provisioned_and_gets_no_token(server: LiveServer) -> None:
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
