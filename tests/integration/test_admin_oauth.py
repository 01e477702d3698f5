"""Warden's own admin API accepts its access tokens: DPoP-bound ones with a proof (RFC 9449
§7), scope ``warden:admin`` required; the static admin token keeps working."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.rfc9449 import ath_of
from warden.tokens.settings import TokenSettings

ADMIN_TOKEN = "test-admin-token-0123456789"
ISSUER = "http://warden.test"
AGENT = "spiffe://warden.local/agent/ops-bot"


@pytest.fixture
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    runtime = await Runtime.open(sqlite_url, token_settings=TokenSettings(issuer=ISSUER))
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN_TOKEN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client
    finally:
        await runtime.close()


def proof(key: ECKey, method: str, url: str, token: str | None = None) -> str:
    claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url}
    claims["iat"] = int(time.time())
    if token is not None:
        claims["ath"] = ath_of(token)
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key)


async def _client(http: httpx.AsyncClient, scope: str) -> tuple[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    agent = {"id": AGENT, "display_name": "ops", "owner": "ann@acme.example", "team": "ops"}
    if (await http.get(f"/v1/agents/{AGENT}", headers=admin)).status_code == 404:
        assert (await http.post("/v1/agents", json=agent, headers=admin)).status_code == 201
    metadata = {
        "spiffe_id": AGENT,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "scope": scope,
        "dpop_bound_access_tokens": True,
    }
    body = (await http.post("/oauth2/register", json=metadata, headers=admin)).json()
    return body["client_id"], body["client_secret"]


async def _bound_token(http: httpx.AsyncClient, key: ECKey, scope: str) -> str:
    client = await _client(http, scope)
    token_url = f"{ISSUER}/oauth2/token"
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=client,
        headers={"DPoP": proof(key, "POST", token_url)},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "DPoP"
    return str(answer.json()["access_token"])


async def test_a_dpop_bound_admin_token_with_its_proof_is_admitted(http: httpx.AsyncClient) -> None:
    key = ECKey.generate_key("P-256")
    token = await _bound_token(http, key, "warden:admin")
    url = f"{ISSUER}/v1/agents"
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(key, "GET", url, token)}
    assert (await http.get("/v1/agents", headers=headers)).status_code == 200
    # The same proof again is a replay.
    again = await http.get("/v1/agents", headers=headers)
    assert again.status_code == 401 and "DPoP" in again.headers["www-authenticate"]


async def test_misuse_of_the_bound_token_is_refused(http: httpx.AsyncClient) -> None:
    key, thief = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    token = await _bound_token(http, key, "warden:admin")
    url = f"{ISSUER}/v1/agents"
    as_bearer = await http.get("/v1/agents", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    assert 'error="invalid_token"' in as_bearer.headers["www-authenticate"]
    no_proof = await http.get("/v1/agents", headers={"Authorization": f"DPoP {token}"})
    assert no_proof.status_code in (400, 401)
    stolen = {"Authorization": f"DPoP {token}", "DPoP": proof(thief, "GET", url, token)}
    assert (await http.get("/v1/agents", headers=stolen)).status_code == 401


async def test_the_admin_scope_is_required(http: httpx.AsyncClient) -> None:
    key = ECKey.generate_key("P-256")
    token = await _bound_token(http, key, "invoices:read")
    url = f"{ISSUER}/v1/agents"
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(key, "GET", url, token)}
    answer = await http.get("/v1/agents", headers=headers)
    assert answer.status_code == 403
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


async def test_changes_made_with_an_access_token_name_the_agent(http: httpx.AsyncClient) -> None:
    key = ECKey.generate_key("P-256")
    token = await _bound_token(http, key, "warden:admin")
    url = f"{ISSUER}/v1/tools"
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(key, "POST", url, token)}
    created = await http.post("/v1/tools", json={"name": "ledger.read"}, headers=headers)
    assert created.status_code == 201, created.text
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    entries = (await http.get("/v1/audit/entries?limit=1", headers=admin)).json()["entries"]
    assert entries[0]["event_type"] == "registry:tool:created"
    assert entries[0]["payload"]["actor"] == f"oauth:{AGENT}"


async def test_protected_resource_metadata_and_the_401_that_points_to_it(
    http: httpx.AsyncClient,
) -> None:
    """RFC 9728 §3 (document; `resource` equals the identifier used) and §5.1 (challenge)."""
    document = (await http.get("/.well-known/oauth-protected-resource")).json()
    assert document["resource"] == ISSUER
    assert document["authorization_servers"] == [ISSUER]
    assert "warden:admin" in document["scopes_supported"]
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    unauthenticated = await http.get("/v1/agents")
    assert unauthenticated.status_code == 401
    challenge = unauthenticated.headers["www-authenticate"]
    assert f'resource_metadata="{ISSUER}/.well-known/oauth-protected-resource"' in challenge
    as_server = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert as_server["issuer"] == document["authorization_servers"][0]
