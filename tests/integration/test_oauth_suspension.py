"""Suspending an agent stops every grant at once — refresh included, not only new logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.settings import TokenSettings

ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ISSUER = "http://warden.test"
AGENT = "spiffe://warden.local/agent/expense-helper"


@pytest.fixture
async def runtime(sqlite_url: str) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(sqlite_url, token_settings=TokenSettings(issuer=ISSUER))
    yield rt
    await rt.close()


async def test_a_suspended_agent_cannot_refresh(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN_TOKEN))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        agent = {"id": AGENT, "display_name": "expenses", "owner": "a@acme.example", "team": "t"}
        assert (await http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
        metadata = {
            "spiffe_id": AGENT,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["http://127.0.0.1/cb"],
            "scope": "expenses:read",
        }
        body = (await http.post("/oauth2/register", json=metadata, headers=ADMIN)).json()
        auth = (body["client_id"], body["client_secret"])
        client = await runtime.tokens.clients.get_client(body["client_id"])
        assert client is not None
        refresh = await runtime.tokens.minter(datetime.now(UTC)).mint_refresh(
            client=client,
            grant_id="grant-1",
            subject="ann@acme.example",
            scope=("expenses:read",),
            claims={"sub": "ann@acme.example", "scope": "expenses:read", "aud": ISSUER},
            jkt=None,
        )
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        first = await http.post("/oauth2/token", data=form, auth=auth)
        assert first.status_code == 200, first.text

        suspend = {"status": "suspended", "reason": "incident IR-9"}
        changed = await http.post(f"/v1/agents/{AGENT}/status", json=suspend, headers=ADMIN)
        assert changed.status_code == 200
        form["refresh_token"] = first.json()["refresh_token"]
        refused = await http.post("/oauth2/token", data=form, auth=auth)
        assert refused.status_code == 400
        assert refused.json()["error"] == "unauthorized_client"
        assert "suspended" in refused.json()["error_description"]


async def test_an_expired_agent_gets_no_token_before_housekeeping_runs(runtime: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN_TOKEN))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        agent = {"id": AGENT, "display_name": "expenses", "owner": "a@acme.example", "team": "t"}
        assert (await http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
        metadata = {
            "spiffe_id": AGENT,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "scope": "expenses:read",
        }
        body = (await http.post("/oauth2/register", json=metadata, headers=ADMIN)).json()
        auth = (body["client_id"], body["client_secret"])
        form = {"grant_type": "client_credentials"}
        assert (await http.post("/oauth2/token", data=form, auth=auth)).status_code == 200

        past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        expiry = {"expires_at": past}
        assert (await http.patch(f"/v1/agents/{AGENT}", json=expiry, headers=ADMIN)).is_success
        after = await http.post("/oauth2/token", data=form, auth=auth)
        assert after.status_code == 400
        assert after.json()["error"] == "unauthorized_client"
        assert "expired" in after.json()["error_description"]
