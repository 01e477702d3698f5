"""``/v1/profiles`` over real HTTP (in-process ASGI) on both stores: reading, validating,
applying as YAML or JSON, roles (an auditor reads but cannot apply), errors with positions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from warden.audit.models import EventType
from warden.runtime import Runtime
from warden.server.app import create_app

ADMIN = "profiles-admin-token-0123456789"

CUSTOM = """\
name: expense-approval
description: Approve employees' expense reports within policy
examples: [Approve Maria's travel expenses from the Berlin trip]
tools:
  - expenses.read
  - tool: expenses.approve
    arguments:
      amount: {max: 2000}
budgets:
  - {name: approvals, tools: [expenses.approve], argument: amount, limit: 5000, currency: EUR}
flows: [{labels: [pii], may_reach: [internal]}]
max_chain_depth: 1
"""


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def call(
        self, method: str, path: str, token: str = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def person(self, email: str, *roles: str) -> str:
        body = {"person": email, "roles": list(roles)}
        response = await self.call("POST", "/v1/access/tokens", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


@pytest.fixture
async def warden(database_url: str) -> AsyncIterator[Warden]:
    runtime = await Runtime.open(database_url)
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as http:
            yield Warden(runtime, http)
    finally:
        await runtime.close()


YAML = {"Content-Type": "application/yaml"}


async def test_the_library_is_listed_and_each_profile_shown(warden: Warden) -> None:
    listed = (await warden.call("GET", "/v1/profiles")).json()["profiles"]
    names = [p["name"] for p in listed]
    assert len(names) == 10 and "ap-reconciliation" in names and names == sorted(names)
    pay = next(p for p in listed if p["name"] == "invoice-payment")
    assert pay["version"] == 1 and pay["author"] == "warden"
    assert pay["budgets"][0] == {
        "name": "payments",
        "tools": ["payments.*"],
        "argument": "amount",
        "limit": 10000,
        "currency": "EUR",
    }
    shown = (await warden.call("GET", "/v1/profiles/ap-reconciliation")).json()
    assert shown["yaml"].startswith("# Accounts payable reconciliation")
    assert shown["examples"][0] == "Reconcile last month's vendor invoices"
    schema = (await warden.call("GET", "/v1/profiles/schema")).json()
    assert schema["title"] == "Warden purpose profile"
    assert schema["required"] == ["name", "description", "examples", "tools"]
    missing = await warden.call("GET", "/v1/profiles/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["message"] == "no purpose profile `no-such-thing`"


async def test_an_admin_applies_yaml_or_json_and_versions_accumulate(warden: Warden) -> None:
    first = await warden.call("POST", "/v1/profiles", content=CUSTOM, headers=YAML)
    assert first.status_code == 201, first.text
    assert (first.json()["name"], first.json()["version"], first.json()["author"]) == (
        "expense-approval",
        1,
        "admin",
    )
    changed = CUSTOM.replace("max: 2000", "max: 1500")
    second = await warden.call("POST", "/v1/profiles", json={"yaml": changed})
    assert second.status_code == 201 and second.json()["version"] == 2
    assert second.json()["tools"][1]["arguments"]["amount"]["max"] == 1500

    history = (await warden.call("GET", "/v1/profiles/expense-approval/history")).json()
    assert [v["version"] for v in history["versions"]] == [2, 1]
    old = (await warden.call("GET", "/v1/profiles/expense-approval?version=1")).json()
    assert old["version"] == 1 and "max: 2000" in old["yaml"]
    current = warden.runtime.profiles.current("expense-approval")
    assert current is not None and current.version == 2

    entries = await warden.runtime.ledger_store.tail(2)
    applied = [(e.event_type, e.payload["actor"], e.payload["version"]) for e in entries]
    assert applied == [(EventType.PROFILE_APPLIED, "admin", v) for v in (1, 2)]


async def test_invalid_profiles_are_refused_with_line_and_column(warden: Warden) -> None:
    broken = CUSTOM.replace("max: 2000", "max: lots").replace("max_chain_depth: 1", "depth: 1")
    checked = await warden.call("POST", "/v1/profiles/validate", content=broken, headers=YAML)
    assert checked.status_code == 200
    assert checked.json()["valid"] is False
    assert [(p["line"], p["column"]) for p in checked.json()["problems"]] == [(8, 21), (12, 1)]

    refused = await warden.call("POST", "/v1/profiles", content=broken, headers=YAML)
    assert refused.status_code == 400
    body = refused.json()
    assert body["error"] == "invalid_profile"
    assert body["problems"][0] == {
        "source": "request body",
        "line": 8,
        "column": 21,
        "message": "`tools.1.arguments.amount.max`: must be a number",
    }
    assert warden.runtime.profiles.current("expense-approval") is None
    bad_json = await warden.call("POST", "/v1/profiles", json={"text": CUSTOM})
    assert bad_json.status_code == 400
    assert 'send the profile as `{"yaml": "..."}`' in bad_json.json()["message"]
    valid = await warden.call("POST", "/v1/profiles/validate", content=CUSTOM, headers=YAML)
    assert valid.json() == {"valid": True, "problems": [], "name": "expense-approval"}


async def test_an_auditor_reads_and_validates_but_cannot_apply(warden: Warden) -> None:
    auditor = await warden.person("audit@acme.example", "auditor")
    assert (await warden.call("GET", "/v1/profiles", auditor)).status_code == 200
    shown = await warden.call("GET", "/v1/profiles/invoice-payment", auditor)
    assert shown.status_code == 200
    checked = await warden.call(
        "POST", "/v1/profiles/validate", auditor, content=CUSTOM, headers=YAML
    )
    assert checked.json()["valid"] is True
    refused = await warden.call("POST", "/v1/profiles", auditor, content=CUSTOM, headers=YAML)
    assert refused.status_code == 403
    assert refused.json()["message"] == "this needs the role `admin`"
    assert warden.runtime.profiles.current("expense-approval") is None
    anonymous = await warden.http.get("/v1/profiles")
    assert anonymous.status_code == 401
