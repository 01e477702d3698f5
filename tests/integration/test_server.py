"""The HTTP API end to end over a real store (SQLite and PostgreSQL), in-process ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from warden.audit.errors import LedgerUnavailable
from warden.runtime import Runtime
from warden.server.app import create_app

TOKEN = "test-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
AP = "spiffe://acme.example/agent/ap-clerk"

ALLOW_FINANCE = """
@id("finance-reads") @reason("finance agents may read the ledger")
permit(principal in Team::"finance", action == Action::"invoke", resource == Tool::"ledger.read");

@id("transfers-need-approval") @outcome("step_up") @reason("money moves need a person")
forbid(principal, action, resource == Tool::"payments.transfer");

@id("finance-transfers")
permit(principal in Team::"finance", action, resource == Tool::"payments.transfer");
"""


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(database_url)
    yield rt
    await rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, admin_token=TOKEN)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as c:
        yield c


async def _setup_fleet(client: httpx.AsyncClient) -> None:
    agent = {"id": AP, "display_name": "AP clerk", "owner": "Ann@Acme.example", "team": "finance"}
    assert (await client.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
    for name, ro in (("ledger.read", True), ("payments.transfer", False)):
        tool = {"name": name, "annotations": {"read_only": ro, "labels": ["finance"]}}
        assert (await client.post("/v1/tools", json=tool, headers=ADMIN)).status_code == 201
    bundle = {"policies": {"finance.cedar": ALLOW_FINANCE}}
    assert (await client.post("/v1/policies", json=bundle, headers=ADMIN)).status_code == 201


async def _evaluate(client: httpx.AsyncClient, tool: str, agent: str = AP) -> dict[str, Any]:
    body = {
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": tool},
    }
    response = await client.post("/access/v1/evaluation", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_decisions_follow_policy_and_are_in_the_ledger(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _setup_fleet(client)
    read = await _evaluate(client, "ledger.read")
    transfer = await _evaluate(client, "payments.transfer")
    assert read["decision"] is True and read["context"]["outcome"] == "allow"
    assert transfer["decision"] is False and transfer["context"]["outcome"] == "step_up"
    assert transfer["context"]["reasons"][0]["code"] == "transfers-need-approval"
    entry = await runtime.ledger_store.get(transfer["context"]["decision_id"])
    assert entry is not None and entry.event_type == "decision:step_up"
    assert entry.payload["reasons"][0]["code"] == "transfers-need-approval"
    verified = (await client.get("/v1/audit/verify", headers=ADMIN)).json()
    assert verified["ok"] is True and verified["entries_checked"] >= 6


async def test_unknown_agent_is_denied_and_sighted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _setup_fleet(client)
    shadow = "spiffe://acme.example/agent/shadow"
    result = await _evaluate(client, "ledger.read", agent=shadow)
    assert result["context"]["reasons"][0]["code"] == "agent.unknown"
    await runtime.shadow.flush()  # sightings are tallied in memory, stored in batches
    last = (await runtime.ledger_store.tail(1))[0]
    assert last.event_type == "agent:sighting:unknown"
    assert last.payload["subject"]["id"] == shadow
    assert last.payload["decision_id"] == result["context"]["decision_id"]


async def test_admin_api_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/agents")).status_code == 401
    wrong = await client.get("/v1/agents", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    assert "nope" not in wrong.text
    assert (await client.get("/v1/agents", headers=ADMIN)).status_code == 200


async def test_bad_agent_gets_400_naming_the_field(client: httpx.AsyncClient) -> None:
    agent = {
        "id": "spiffe://acme.example/agent/x",
        "display_name": "X",
        "owner": "nobody",
        "team": "t",
    }
    response = await client.post("/v1/agents", json=agent, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["field"] == "owner"
    duplicate = {**agent, "owner": "x@acme.example"}
    assert (await client.post("/v1/agents", json=duplicate, headers=ADMIN)).status_code == 201
    again = await client.post("/v1/agents", json=duplicate, headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "agent_exists"


async def test_bad_bundle_keeps_the_active_revision(client: httpx.AsyncClient) -> None:
    await _setup_fleet(client)
    before = (await client.get("/v1/policies/active", headers=ADMIN)).json()["revision"]
    broken = {"policies": {"finance.cedar": "permit(principal, action, resource)\nwhen { 1 + };"}}
    response = await client.post("/v1/policies", json=broken, headers=ADMIN)
    assert response.status_code == 400
    problem = response.json()["problems"][0]
    assert (problem["file"], problem["line"]) == ("finance.cedar", 2)
    after = (await client.get("/v1/policies/active", headers=ADMIN)).json()["revision"]
    assert after == before
    entries = (await client.get("/v1/audit/entries?limit=1", headers=ADMIN)).json()["entries"]
    assert entries[0]["event_type"] == "policy:revision:rejected"
    assert entries[0]["payload"]["problems"] == 1
    assert (await _evaluate(client, "ledger.read"))["decision"] is True


async def test_new_revision_takes_effect_at_once(client: httpx.AsyncClient) -> None:
    await _setup_fleet(client)
    deny_all = {
        "policies": {"lockdown.cedar": '@id("lockdown") forbid(principal, action, resource);'}
    }
    response = await client.post("/v1/policies", json=deny_all, headers=ADMIN)
    assert response.status_code == 201
    result = await _evaluate(client, "ledger.read")
    assert result["decision"] is False
    assert result["context"]["reasons"][0]["code"] == "lockdown"
    assert result["context"]["policy_revision"] == response.json()["revision"]


async def test_ledger_outage_denies(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _setup_fleet(client)

    async def unavailable(rows: object) -> None:
        raise LedgerUnavailable("the database is down")

    monkeypatch.setattr(runtime.ledger_store, "append_batch", unavailable)
    result = await _evaluate(client, "ledger.read")
    assert result["decision"] is False
    assert result["context"]["reasons"][0]["code"] == "audit.unavailable"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'"x"',
        b"{",
        b'{"subject": 1}',
        b'{"subject": {"type": "agent", "id": "a"}, "action": {"name": ["x"]}, "resource": {}}',
        b'{"subject": {"type": "agent", "id": "a"}, "action": {"name": "x"},'
        b' "resource": {"type": "tool", "id": "t"}, "context": {"n": 1e400}}',
        b'{"subject": {"type": "user", "id": "a", "properties": {"x": 99999999999999999999999}},'
        b' "action": {"name": "x"}, "resource": {"type": "tool", "id": "t"}}',
        b'{"subject": {"type": "user", "id": "a", "properties": {"x": {"__entity": 5}}},'
        b' "action": {"name": "x"}, "resource": {"type": "tool", "id": "t"}}',
        b"\xff\xfe",
    ],
)
async def test_nothing_a_client_sends_is_a_500(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/access/v1/evaluation", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["decision"] is False


async def test_state_survives_a_restart(database_url: str) -> None:
    first = await Runtime.open(database_url)
    app = create_app(first, admin_token=TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://w") as c:
        await _setup_fleet(c)
        revision = first.view.revision
    await first.close()
    second = await Runtime.open(database_url)
    try:
        assert second.view.revision == revision
        assert AP in second.view.registry.agents
        app = create_app(second, admin_token=TOKEN)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://w"
        ) as c:
            assert (await _evaluate(c, "ledger.read"))["decision"] is True
            assert (await c.get("/v1/audit/verify", headers=ADMIN)).json()["ok"] is True
    finally:
        await second.close()


async def test_openapi_documents_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/access/v1/evaluation", "/access/v1/evaluations", "/v1/agents", "/v1/policies"):
        assert path in paths


async def test_agents_registered_concurrently_are_all_known(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async def register(i: int) -> None:
        agent = {
            "id": f"spiffe://acme.example/agent/a{i}",
            "display_name": f"agent {i}",
            "owner": "ann@acme.example",
            "team": "finance",
        }
        assert (await client.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201

    await asyncio.gather(*(register(i) for i in range(12)))
    assert len(runtime.view.registry.agents) == 12


async def test_a_batch_item_cedar_cannot_hold_names_its_index(client: httpx.AsyncClient) -> None:
    await _setup_fleet(client)
    body = {
        "subject": {"type": "agent", "id": AP},
        "action": {"name": "invoke"},
        "evaluations": [
            {"resource": {"type": "tool", "id": "ledger.read"}},
            {"resource": {"type": "tool", "id": "ledger.read"}, "context": {"ratio": 0.123456}},
        ],
    }
    results = (await client.post("/access/v1/evaluations", json=body)).json()["evaluations"]
    assert results[0]["decision"] is True
    error = results[1]["context"]["error"]
    assert error["status"] == 400
    assert error["message"].startswith("evaluations[1]: `context.ratio`")
