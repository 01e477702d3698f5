"""An agent can authenticate with nothing but the JWT-SVIDs Warden issues it: a
``private_key_jwt`` client with a SPIFFE ID and no ``jwks`` (RFC 7523 assertion = JWT-SVID)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.models import JWT_BEARER_ASSERTION
from warden.tokens.settings import TokenSettings

ADMIN = {"Authorization": "Bearer test-admin-token-0123456789"}
ISSUER = "http://warden.test"
AGENT = "spiffe://warden.local/agent/recon"


@pytest.fixture
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = await Runtime.open(sqlite_url, token_settings=TokenSettings(issuer=ISSUER))
    app = create_app(runtime, admin_token=ADMIN["Authorization"].split()[1])
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client
    finally:
        await runtime.close()


async def test_an_svid_only_agent_gets_tokens(http: httpx.AsyncClient) -> None:
    agent = {"id": AGENT, "display_name": "recon", "owner": "a@acme.example", "team": "fin"}
    assert (await http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
    metadata = {
        "spiffe_id": AGENT,
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
        "scope": "ledger:read",
    }
    registered = await http.post("/oauth2/register", json=metadata, headers=ADMIN)
    assert registered.status_code == 201, registered.text
    assert "client_secret" not in registered.json()
    svid = await http.post(
        f"/v1/agents/{AGENT}/credentials",
        json={"kind": "jwt", "audience": [f"{ISSUER}/oauth2/token"]},
        headers=ADMIN,
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": AGENT,
        "client_assertion_type": JWT_BEARER_ASSERTION,
        "client_assertion": svid.json()["token"],
    }
    token = await http.post("/oauth2/token", data=form)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "ledger:read"
    again = await http.post("/oauth2/token", data=form)  # the SVID's jti is single-use
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


async def test_private_key_jwt_without_keys_needs_a_spiffe_id(http: httpx.AsyncClient) -> None:
    metadata = {
        "client_name": "no keys",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials"],
    }
    refused = await http.post("/oauth2/register", json=metadata, headers=ADMIN)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
