"""The entitlements API over real HTTP (in-process ASGI) on both stores: grants decide AuthZEN
evaluations, roles (owner of the agent, auditor, admin), templates, right-sizing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from warden.audit.models import EventType
from warden.runtime import Runtime
from warden.server.app import create_app

ADMIN = "entitlements-admin-token-0123456789"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"
ANA, BO = "ana@acme.example", "bo@acme.example"


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def call(
        self, method: str, path: str, token: str = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def grant(self, agent: str, tool: str, token: str = ADMIN, **extra: Any) -> Any:
        body = {"resource_id": tool, "justification": f"needs {tool}", **extra}
        return await self.call("POST", f"/v1/agents/{agent}/entitlements", token, json=body)

    async def evaluate(self, tool: str, agent: str = AP) -> dict[str, Any]:
        body = {
            "subject": {"type": "agent", "id": agent},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": tool},
        }
        response = await self.http.post("/access/v1/evaluation", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

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
            w = Warden(runtime, http)
            for agent_id, owner in ((AP, ANA), (HR, BO)):
                body = {"id": agent_id, "display_name": "bot", "owner": owner, "team": "finance"}
                assert (await w.call("POST", "/v1/agents", json=body)).status_code == 201
            yield w
    finally:
        await runtime.close()


async def test_a_grant_through_the_api_decides_an_authzen_evaluation(warden: Warden) -> None:
    assert (await warden.evaluate("erp.invoice.read"))["decision"] is False
    response = await warden.grant(AP, "erp.invoice.read")
    assert response.status_code == 201, response.text
    grant = response.json()
    assert (grant["granted_by"], grant["in_force"], grant["state"]) == ("admin", True, "active")

    allowed = await warden.evaluate("erp.invoice.read")
    assert allowed["decision"] is True
    assert allowed["context"]["reasons"][0]["code"] == f"entitlement:{grant['id']}"

    listed = (await warden.call("GET", f"/v1/agents/{AP}/entitlements")).json()
    assert [g["id"] for g in listed["entitlements"]] == [grant["id"]]
    revoke = await warden.call("DELETE", f"/v1/entitlements/{grant['id']}?reason=left+the+team")
    assert revoke.status_code == 200 and revoke.json()["state"] == "revoked"
    assert (await warden.evaluate("erp.invoice.read"))["decision"] is False
    by_state = await warden.call("GET", "/v1/entitlements", params={"state": "revoked"})
    assert [g["change_reason"] for g in by_state.json()["entitlements"]] == ["left the team"]


async def test_bad_input_is_a_400_naming_the_field(warden: Warden) -> None:
    blank = await warden.grant(AP, "erp.read", justification=" ")
    assert blank.status_code == 400 and blank.json()["field"] == "justification"
    missing = await warden.call(
        "POST", f"/v1/agents/{AP}/entitlements", json={"resource_id": "erp.read"}
    )
    assert missing.status_code == 400 and missing.json()["field"] == "justification"
    naive = await warden.grant(AP, "erp.read", expires_at="2031-01-01T00:00:00")
    assert naive.status_code == 400 and naive.json()["field"] == "expires_at"
    kind = await warden.grant(AP, "erp.read", resource_type="not a type")
    assert kind.status_code == 400 and kind.json()["field"] == "resource_type"
    assert (await warden.grant(AP, "erp.read")).status_code == 201
    twice = await warden.grant(AP, "erp.read")
    assert twice.status_code == 409 and twice.json()["error"] == "entitlement_exists"
    nobody = await warden.grant("spiffe://acme.example/agent/nobody", "erp.read")
    assert nobody.status_code == 404
    unknown = await warden.call("DELETE", "/v1/entitlements/feedface?reason=x")
    assert unknown.status_code == 404 and "`feedface`" in unknown.json()["message"]
    no_reason = await warden.call("DELETE", "/v1/entitlements/feedface")
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "query.reason"


async def test_an_owner_grants_on_their_own_agent_only(warden: Warden) -> None:
    ana = await warden.person(ANA, "owner")
    own = await warden.grant(AP, "erp.read", ana)
    assert own.status_code == 201 and own.json()["granted_by"] == ANA
    other = await warden.grant(HR, "erp.read", ana)
    assert other.status_code == 403 and "not an owner" in other.json()["message"]
    template = await warden.call(
        "POST", f"/v1/agents/{HR}/entitlements/template", ana, json={"template": "hr-onboarding"}
    )
    assert template.status_code == 403

    hr_grant = (await warden.grant(HR, "hr.records.read")).json()
    refused = await warden.call("DELETE", f"/v1/entitlements/{hr_grant['id']}?reason=x", ana)
    assert refused.status_code == 403
    assert (await warden.evaluate("hr.records.read", HR))["decision"] is True  # untouched
    mine = await warden.call("DELETE", f"/v1/entitlements/{own.json()['id']}?reason=done", ana)
    assert mine.status_code == 200
    events = [e for e in await warden.runtime.ledger_store.tail(100)]
    revoked = [e.payload for e in events if e.event_type == EventType.ENTITLEMENT_REVOKED]
    assert [p["actor"] for p in revoked] == [ANA]

    # Right-sizing's prune and restore are for admins.
    prune = await warden.call("POST", "/v1/entitlements/prune", ana, json={"days": 30})
    assert prune.status_code == 403


async def test_an_auditor_reads_but_changes_nothing(warden: Warden) -> None:
    grant = (await warden.grant(AP, "erp.read")).json()
    auditor = await warden.person("audit@acme.example", "auditor")
    assert (await warden.call("GET", "/v1/entitlements", auditor)).status_code == 200
    assert (await warden.call("GET", f"/v1/entitlements/{grant['id']}", auditor)).status_code == 200
    assert (await warden.call("GET", "/v1/entitlements/unused", auditor)).status_code == 200
    assert (await warden.grant(AP, "erp.write", auditor)).status_code == 403
    delete = await warden.call("DELETE", f"/v1/entitlements/{grant['id']}?reason=x", auditor)
    assert delete.status_code == 403
    restore = await warden.call("POST", f"/v1/entitlements/{grant['id']}/restore", auditor)
    assert restore.status_code == 403
    assert (await warden.call("GET", "/v1/entitlements")).json()["entitlements"][0]["state"] == (
        "active"
    )


async def test_templates_listed_and_applied_packaged_or_custom(warden: Warden) -> None:
    listed = (await warden.call("GET", "/v1/entitlements/templates")).json()["templates"]
    assert {t["name"] for t in listed} >= {"ap-reconciliation", "incident-triage"}
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    applied = await warden.call(
        "POST",
        f"/v1/agents/{AP}/entitlements/template",
        json={"template": "incident-triage", "expires_at": until},
    )
    assert applied.status_code == 201, applied.text
    granted = applied.json()["granted"]
    assert {g["resource_id"] for g in granted} == {
        "monitoring.alerts.read",
        "monitoring.metrics.read",
        "logs.search",
        "incident.timeline.update",
    }
    assert {(g["template"], g["expires_at"] is not None) for g in granted} == {
        ("incident-triage", True)
    }
    assert (await warden.evaluate("logs.search"))["decision"] is True

    custom = "name: my-bot\npurpose: test\ngrants:\n  - tool: erp.read\n"
    bad = await warden.call("POST", f"/v1/agents/{AP}/entitlements/template", json={"yaml": custom})
    assert bad.status_code == 400
    [problem] = bad.json()["problems"]
    assert problem["line"] == 4 and "justification" in problem["message"]
    missing = await warden.call(
        "POST", f"/v1/agents/{AP}/entitlements/template", json={"template": "no-such"}
    )
    assert missing.status_code == 404 and "ap-reconciliation" in missing.json()["message"]


async def test_unused_report_prune_and_restore_over_http(warden: Warden) -> None:
    old = datetime.now(UTC) - timedelta(days=45)
    service = warden.runtime.entitlements
    used = await service.grant(
        AP, "invoke", "Tool", "erp.read", justification="reads", actor="admin", now=old
    )
    idle = await service.grant(
        AP, "invoke", "Tool", "erp.write", justification="writes", actor="admin", now=old
    )
    assert (await warden.evaluate("erp.read"))["decision"] is True

    report = (await warden.call("GET", "/v1/entitlements/unused?days=30")).json()
    assert [g["id"] for g in report["unused"]] == [idle.id]
    assert report["in_use"] == 1 and report["days"] == 30
    bad_days = await warden.call("GET", "/v1/entitlements/unused?days=0")
    assert bad_days.status_code == 400

    pruned = await warden.call("POST", "/v1/entitlements/prune", json={"days": 30})
    assert [g["id"] for g in pruned.json()["pruned"]] == [idle.id]
    assert pruned.json()["pruned"][0]["change_reason"] == "unused for 30 days"
    assert (await warden.evaluate("erp.write"))["decision"] is False
    assert (await warden.evaluate("erp.read"))["decision"] is True

    restored = await warden.call("POST", f"/v1/entitlements/{idle.id}/restore")
    assert restored.status_code == 200 and restored.json()["state"] == "active"
    assert (await warden.evaluate("erp.write"))["decision"] is True
    again = await warden.call("POST", f"/v1/entitlements/{used.id}/restore")
    assert again.status_code == 409
