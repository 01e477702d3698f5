"""Shadow agents end to end over the HTTP API and a real store (SQLite and PostgreSQL):
sightings from decisions and the token endpoint, promote, block (across a restart)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from warden.access.models import Role
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.store.schema import shadow_sightings
from warden.tokens.errors import InvalidToken
from warden.tokens.models import JWT_BEARER_ASSERTION
from warden.tokens.settings import TokenSettings

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ISSUER = "http://warden.test"
GHOST = "spiffe://warden.local/agent/ghost"
KNOWN = "spiffe://warden.local/agent/recon"
ALLOW_ALL = '@id("all") permit(principal, action, resource);'


async def _open(database_url: str) -> Runtime:
    return await Runtime.open(database_url, token_settings=TokenSettings(issuer=ISSUER))


def _http(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=TOKEN))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await _open(database_url)
    yield rt
    await rt.close()


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _http(runtime) as client:
        assert (await client.post("/v1/policies", json={"policies": {"a.cedar": ALLOW_ALL}},
                                  headers=ADMIN)).status_code == 201  # fmt: skip
        yield client


async def _decide(
    http: httpx.AsyncClient, agent: str, tool: str = "ledger.read", **context: Any
) -> dict[str, Any]:
    body = {
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": tool},
        "context": context,
    }
    response = await http.post("/access/v1/evaluation", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["context"]["reasons"]]


async def _sightings(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await http.get("/v1/shadow", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["sightings"]
    return found


async def _events(runtime: Runtime, event_type: str) -> list[dict[str, Any]]:
    entries = await runtime.ledger_store.tail(500)
    return [dict(e.payload) for e in entries if e.event_type == event_type]


async def _register(http: httpx.AsyncClient, agent: str, status: str = "active") -> None:
    body = {"id": agent, "display_name": "recon", "owner": "ann@acme.example", "team": "fin",
            "status": status}  # fmt: skip
    assert (await http.post("/v1/agents", json=body, headers=ADMIN)).status_code == 201


async def _secret_client(http: httpx.AsyncClient, agent: str) -> tuple[str, str]:
    metadata = {
        "spiffe_id": agent,
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"],
        "scope": "ledger:read",
    }
    body = (await http.post("/oauth2/register", json=metadata, headers=ADMIN)).json()
    return body["client_id"], body["client_secret"]


async def test_decisions_by_an_unknown_agent_make_one_sighting_with_its_count(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    for tool in ("ledger.read", "ledger.read", "payments.transfer"):
        result = await _decide(http, GHOST, tool, user="ann@acme.example")
        assert result["decision"] is False and _codes(result) == ["agent.unknown"]
    # Recording touched no table: the sighting waits in memory for the next flush.
    async with runtime.engine.connect() as conn:
        stored = await conn.execute(select(func.count()).select_from(shadow_sightings))
        assert stored.scalar_one() == 0
    [sighting] = await _sightings(http)  # a read flushes first
    assert sighting["key"] == f"subject:{GHOST}"
    assert sighting["count"] == 3 and sighting["status"] == "open"
    assert sighting["where"] == ["authzen"]
    assert sighting["tools"] == ["ledger.read", "payments.transfer"]
    assert sighting["humans"] == ["ann@acme.example"]
    assert sighting["registry_status"] is None
    await _decide(http, GHOST)
    [again] = await _sightings(http)
    assert again["count"] == 4 and again["first_seen"] == sighting["first_seen"]
    [event] = await _events(runtime, "agent:sighting:unknown")  # one per new sighting
    assert event["id"] == GHOST and event["subject"]["id"] == GHOST
    assert "ann@acme.example" not in str(event)  # people stay out of the ledger


async def test_housekeeping_stores_sightings(runtime: Runtime, http: httpx.AsyncClient) -> None:
    await _decide(http, GHOST)
    assert "shadow-flush" in runtime.housekeeping
    await runtime.housekeep()
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(select(shadow_sightings))).all()
    assert [(r.identifier, r.seen_count) for r in rows] == [(GHOST, 1)]


async def test_inactive_agents_are_sighted_with_their_registry_status(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    await _register(http, KNOWN, status="provisioned")
    result = await _decide(http, KNOWN)
    assert result["decision"] is False and _codes(result) == ["agent.provisioned"]
    [sighting] = await _sightings(http)
    assert sighting["identifier"] == KNOWN and sighting["registry_status"] == "provisioned"


async def test_token_requests_by_unregistered_clients_are_refused_and_sighted(
    http: httpx.AsyncClient,
) -> None:
    form = {"grant_type": "client_credentials", "scope": "ledger:read"}
    for _ in range(2):
        refused = await http.post("/oauth2/token", data=form, auth=("wc_nobody", "guess"))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    key = ECKey.generate_key("P-256")
    now = int(time.time())
    claims = {"iss": GHOST, "sub": GHOST, "aud": f"{ISSUER}/oauth2/token", "exp": now + 60,
              "jti": "j1"}  # fmt: skip
    assertion = jwt.encode({"alg": "ES256"}, claims, key)
    svid_form = {**form, "client_assertion_type": JWT_BEARER_ASSERTION,
                 "client_assertion": assertion, "resource": "https://ledger.example"}  # fmt: skip
    refused = await http.post("/oauth2/token", data=svid_form)
    assert refused.status_code == 401
    found = {s["key"]: s for s in await _sightings(http)}
    assert found["oauth_client:wc_nobody"]["count"] == 2
    assert found["oauth_client:wc_nobody"]["where"] == ["token_endpoint"]
    assert found["oauth_client:wc_nobody"]["tools"] == ["scope:ledger:read"]
    assert found[f"spiffe:{GHOST}"]["tools"] == ["https://ledger.example", "scope:ledger:read"]
    assert "guess" not in str(found)


async def test_a_suspended_agents_client_is_sighted_at_the_token_endpoint(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    await _register(http, KNOWN)
    auth = await _secret_client(http, KNOWN)
    form = {"grant_type": "client_credentials"}
    assert (await http.post("/oauth2/token", data=form, auth=auth)).status_code == 200
    assert await _sightings(http) == []  # an active agent is no shadow
    change = {"status": "suspended", "reason": "incident 42"}
    assert (await http.post(f"/v1/agents/{KNOWN}/status", json=change, headers=ADMIN)).is_success
    refused = await http.post("/oauth2/token", data=form, auth=auth)
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    [sighting] = await _sightings(http)
    assert sighting["key"] == f"oauth_client:{KNOWN}"
    assert sighting["registry_status"] == "suspended"


async def test_promote_registers_a_provisioned_agent_once(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    await _decide(http, GHOST)
    [sighting] = await _sightings(http)
    body = {"owner": "Bob@Acme.example", "team": "finance", "name": "Ghost"}
    promoted = await http.post(f"/v1/shadow/{sighting['id']}/promote", json=body, headers=ADMIN)
    assert promoted.status_code == 201, promoted.text
    assert promoted.json()["sightings"][0]["status"] == "promoted"
    agents = (await http.get("/v1/agents", params={"status": "provisioned"}, headers=ADMIN)).json()
    [agent] = agents["agents"]
    assert (agent["id"], agent["owner"], agent["team"]) == (GHOST, "bob@acme.example", "finance")
    again = await http.post(f"/v1/shadow/{GHOST}/promote", json=body, headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "already_promoted"
    [event] = await _events(runtime, "shadow:agent:promoted")
    assert event["actor"] == "admin" and event["agent_id"] == GHOST
    # Still denied: provisioned is not active (an administrator activates it).
    assert _codes(await _decide(http, GHOST)) == ["agent.provisioned"]


async def test_only_a_spiffe_id_can_be_promoted(http: httpx.AsyncClient) -> None:
    await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                    auth=("wc_nobody", "guess"))  # fmt: skip
    body = {"owner": "bob@acme.example", "team": "finance"}
    refused = await http.post("/v1/shadow/oauth_client:wc_nobody/promote", json=body,
                              headers=ADMIN)  # fmt: skip
    assert refused.status_code == 400 and refused.json()["error"] == "not_promotable"
    assert "not a spiffe id" in refused.json()["message"]
    bad = await http.post("/v1/shadow/oauth_client:wc_nobody/promote",
                          json={**body, "owner": "bob"}, headers=ADMIN)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["field"] == "owner"
    missing = await http.post("/v1/shadow/nobody-at-all/promote", json=body, headers=ADMIN)
    assert missing.status_code == 404


async def test_a_block_denies_everywhere_and_survives_a_restart(database_url: str) -> None:
    runtime = await _open(database_url)
    async with _http(runtime) as http:
        await http.post("/v1/policies", json={"policies": {"a.cedar": ALLOW_ALL}}, headers=ADMIN)
        await _decide(http, GHOST)
        blocked = await http.post(f"/v1/shadow/{GHOST}/block",
                                  json={"reason": "unknown workload"}, headers=ADMIN)  # fmt: skip
        assert blocked.status_code == 200, blocked.text
        assert [s["status"] for s in blocked.json()["sightings"]] == ["blocked"]
        # Someone registers it and activates it: still denied, with its own reason.
        await _register(http, GHOST)
        result = await _decide(http, GHOST)
        assert result["decision"] is False and _codes(result) == ["agent.blocked"]
        auth = await _secret_client(http, GHOST)
        refused = await http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                                  auth=auth)  # fmt: skip
        assert refused.status_code == 400 and "blocked" in refused.json()["error_description"]
        [event] = await _events(runtime, "shadow:agent:blocked")
        assert event == {**event, "actor": "admin", "id": GHOST, "blocked": True, "to": "blocked"}
    await runtime.close()

    runtime = await _open(database_url)
    try:
        async with _http(runtime) as http:
            assert _codes(await _decide(http, GHOST)) == ["agent.blocked"]
            found = {s["key"]: s for s in await _sightings(http)}
            # The client's refusal is a new sighting of the blocked identifier: blocked too.
            assert found[f"oauth_client:{GHOST}"]["status"] == "blocked"
            lifted = await http.post(f"/v1/shadow/{GHOST}/unblock", headers=ADMIN)
            assert lifted.status_code == 200, lifted.text
            assert (await _decide(http, GHOST))["decision"] is True
            lifted_event = (await _events(runtime, "shadow:agent:unblocked"))[-1]
            assert (lifted_event["blocked"], lifted_event["to"]) == (False, "open")
            again = await http.post(f"/v1/shadow/{GHOST}/unblock", headers=ADMIN)
            assert again.status_code == 409 and again.json()["error"] == "not_blocked"
    finally:
        await runtime.close()


async def test_auditors_read_sightings_only_admins_change_them(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    await _decide(http, GHOST)
    now = datetime.now(UTC)
    _, auditor = await runtime.access.issue("aud@acme.example", [Role.AUDITOR], actor="t", now=now)
    _, owner = await runtime.access.issue("own@acme.example", [Role.OWNER], actor="t", now=now)
    as_auditor = {"Authorization": f"Bearer {auditor}"}
    assert (await http.get("/v1/shadow", headers=as_auditor)).status_code == 200
    assert (await http.get(f"/v1/shadow/{GHOST}", headers=as_auditor)).status_code == 200
    block = {"reason": "x"}
    refused = await http.post(f"/v1/shadow/{GHOST}/block", json=block, headers=as_auditor)
    assert refused.status_code == 403
    as_owner = {"Authorization": f"Bearer {owner}"}
    assert (await http.get("/v1/shadow", headers=as_owner)).status_code == 403
    assert (await http.get("/v1/shadow")).status_code == 401
    [sighting] = await _sightings(http)
    assert sighting["status"] == "open"


async def test_a_block_stops_a_promoted_agent_and_the_tokens_it_holds(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    await _decide(http, GHOST)
    body = {"owner": "bob@acme.example", "team": "finance"}
    assert (await http.post(f"/v1/shadow/{GHOST}/promote", json=body, headers=ADMIN)).is_success
    change = {"status": "active", "reason": "reviewed"}
    assert (await http.post(f"/v1/agents/{GHOST}/status", json=change, headers=ADMIN)).is_success
    auth = await _secret_client(http, GHOST)
    issued = await http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth)
    token = issued.json()["access_token"]
    assert await runtime.verify_access_token(token)
    assert (await _decide(http, GHOST))["decision"] is True

    block = {"reason": "leaked credentials"}
    assert (await http.post(f"/v1/shadow/{GHOST}/block", json=block, headers=ADMIN)).is_success
    assert _codes(await _decide(http, GHOST)) == ["agent.blocked"]
    introspected = await http.post("/oauth2/introspect", data={"token": token}, auth=auth)
    assert introspected.json() == {"active": False}
    with pytest.raises(InvalidToken):
        await runtime.verify_access_token(token)
    svid = await http.post(f"/v1/agents/{GHOST}/credentials", json={"kind": "x509"},
                           headers=ADMIN)  # fmt: skip
    assert svid.status_code == 404
    [sighting] = [s for s in await _sightings(http) if s["kind"] == "subject"]
    assert (sighting["status"], sighting["agent_id"]) == ("blocked", GHOST)
