"""Access reviews over the real admin API, the real entitlement service and the real decision
pipeline, on both stores: owners certify and revoke with their own tokens, the deadline
revokes or suspends what nobody recertified, and roles decide who may do what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from warden.access.models import Role
from warden.entitlements.models import GrantState
from warden.registry.models import AgentStatus, RiskTier
from warden.registry.specs import AgentSpec, ToolSpec
from warden.runtime import Runtime
from warden.server.app import create_app

ADMIN = "reviews-admin-token-0123456789"
ANN = "ann@acme.example"
BOB = "bob@acme.example"
AP = "spiffe://acme.example/agent/ap-clerk"
RECON = "spiffe://acme.example/agent/recon"
HR = "spiffe://acme.example/agent/hr-helper"
TOOLS = ("erp.invoice.read", "erp.invoice.pay", "erp.vendor.write", "hr.read")


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient
    grants: dict[str, str]  # tool → grant id

    async def call(
        self, method: str, path: str, token: str = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, token: str = ADMIN, **kwargs: Any) -> Any:
        response = await self.call(method, path, token, **kwargs)
        assert response.is_success, response.text
        return response.json()

    async def allowed(self, agent: str, tool: str) -> bool:
        body = {
            "subject": {"type": "agent", "id": agent},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": tool},
        }
        response = await self.http.post("/access/v1/evaluation", json=body)
        assert response.status_code == 200, response.text
        return bool(response.json()["decision"])

    async def person(self, email: str, *roles: Role) -> str:
        _, token = await self.runtime.access.issue(
            email, roles, actor="admin", now=datetime.now(UTC)
        )
        return token

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        entries = await self.runtime.ledger_store.tail(1000)
        return [dict(e.payload) for e in entries if e.event_type == event_type]


@pytest.fixture
async def warden(database_url: str) -> AsyncIterator[Warden]:
    """AP (owners ann and bob) holds three grants, RECON (ann) none, HR (bob) one. No policy:
    only entitlements permit."""
    runtime = await Runtime.open(database_url)
    now = datetime.now(UTC)
    fleet = ((AP, ANN, (BOB,), "finance"), (RECON, ANN, (), "finance"), (HR, BOB, (), "people"))
    for agent_id, owner, co_owners, team in fleet:
        spec = AgentSpec(
            id=agent_id,
            display_name=agent_id.rsplit("/", 1)[-1],
            owner=owner,
            co_owners=list(co_owners),
            team=team,
            risk_tier=RiskTier.HIGH,
        )
        await runtime.registry.register_agent(spec, actor="admin", now=now)
    await runtime.registry.register_tools([ToolSpec(name=t) for t in TOOLS], actor="admin", now=now)
    grants = {}
    for agent_id, tool in ((AP, TOOLS[0]), (AP, TOOLS[1]), (AP, TOOLS[2]), (HR, TOOLS[3])):
        grant = await runtime.entitlements.grant(
            agent_id, "invoke", "Tool", tool, justification="month end", actor="admin", now=now
        )
        grants[tool] = grant.id
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as http:
            yield Warden(runtime, http, grants)
    finally:
        await runtime.close()


def campaign_body(on_deadline: str = "revoke", **scope: str) -> dict[str, Any]:
    deadline = datetime.now(UTC) + timedelta(days=14)
    return {
        "name": "Q1 finance",
        "scope": scope or {"kind": "team", "value": "finance"},
        "deadline": deadline.isoformat(),
        "on_deadline": on_deadline,
    }


async def test_owners_certify_and_revoke_and_the_deadline_revokes_the_rest(warden: Warden) -> None:
    opened = await warden.ok("POST", "/v1/reviews", json=campaign_body("revoke"))
    campaign = opened["id"]
    assert opened["state"] == "open" and opened["progress"]["total"] == 4  # 3 grants + RECON
    ann = await warden.person(ANN, Role.OWNER)
    bob = await warden.person(BOB, Role.OWNER)
    mine = await warden.ok("GET", f"/v1/reviews/{campaign}/items?reviewer={ANN}", ann)
    by_tool = {
        i["entitlement"]["resource_id"] if i["entitlement"] else "agent": i["number"]
        for i in mine["items"]
    }
    assert set(by_tool) == {*TOOLS[:3], "agent"} and mine["total"] == 4

    read, pay, write = (by_tool[t] for t in TOOLS[:3])
    certify = {"decision": "certify", "comment": "daily reconciliation"}
    certified = await warden.ok(
        "POST", f"/v1/reviews/{campaign}/items/{read}/decision", ann, json=certify
    )
    assert certified["state"] == "certified" and certified["decided_by"] == ANN
    assert await warden.allowed(AP, "erp.invoice.pay")
    revoked = await warden.ok(
        "POST", f"/v1/reviews/{campaign}/items/{pay}/decision", bob, json={"decision": "revoke"}
    )
    assert revoked["state"] == "revoked" and revoked["effect"] == "entitlement_revoked"
    # The revocation holds on the very next decision, and the item cannot be decided again.
    assert not await warden.allowed(AP, "erp.invoice.pay")
    again = await warden.call(
        "POST", f"/v1/reviews/{campaign}/items/{pay}/decision", ann, json=certify
    )
    assert again.status_code == 409 and again.json()["error"] == "already_decided"
    grant = await warden.runtime.entitlements.get(warden.grants["erp.invoice.pay"])
    assert grant.state is GrantState.REVOKED and grant.changed_by == BOB
    assert campaign in (grant.change_reason or "")

    report = await warden.ok("GET", f"/v1/reviews/{campaign}")
    progress = report["progress"]
    assert (progress["certified"], progress["revoked"], progress["pending"]) == (1, 1, 2)
    assert progress["reviewers"][ANN] == {"pending": 2, "total": 4}
    assert progress["reviewers"][BOB] == {"pending": 1, "total": 3}

    # The deadline pass, with a controlled clock: the grant left undecided is revoked.
    deadline = datetime.fromisoformat(opened["deadline"])
    assert await warden.runtime.reviews.enforce_deadlines(deadline - timedelta(seconds=1)) == []
    assert await warden.allowed(AP, "erp.vendor.write")
    await warden.runtime.housekeep(deadline)
    assert not await warden.allowed(AP, "erp.vendor.write")
    assert await warden.allowed(AP, "erp.invoice.read")  # certified: kept
    closed = await warden.ok("GET", f"/v1/reviews/{campaign}")
    assert closed["state"] == "closed" and closed["closed_by"] == "warden"
    assert closed["progress"]["expired"] == 2 and closed["progress"]["pending"] == 0
    items = (await warden.ok("GET", f"/v1/reviews/{campaign}/items?state=expired"))["items"]
    effects = {
        i["entitlement"]["resource_id"] if i["entitlement"] else "agent": i["effect"] for i in items
    }
    assert effects == {"erp.vendor.write": "entitlement_revoked", "agent": "none"}
    expired = [e for e in await warden.events("review:item:decided") if e["outcome"] == "expired"]
    assert {e["actor"] for e in expired} == {"warden"} and len(expired) == 2
    [ended] = await warden.events("review:campaign:closed")
    assert ended["campaign_id"] == campaign and ended["reason"] == "deadline"
    late = await warden.call(
        "POST", f"/v1/reviews/{campaign}/items/{write}/decision", ann, json=certify
    )
    assert late.status_code == 409 and late.json()["error"] == "campaign_closed"


async def test_the_suspend_policy_suspends_agents_left_unreviewed(warden: Warden) -> None:
    opened = await warden.ok("POST", "/v1/reviews", json=campaign_body("suspend", kind="all"))
    bob = await warden.person(BOB, Role.OWNER)
    hr_items = await warden.ok("GET", f"/v1/reviews/{opened['id']}/items?reviewer={BOB}")
    [hr_item] = [i for i in hr_items["items"] if i["agent_id"] == HR]
    await warden.ok(
        "POST",
        f"/v1/reviews/{opened['id']}/items/{hr_item['number']}/decision",
        bob,
        json={"decision": "certify"},
    )
    assert await warden.allowed(AP, "erp.invoice.read")
    await warden.runtime.reviews.enforce_deadlines(datetime.fromisoformat(opened["deadline"]))
    for agent_id in (AP, RECON):
        agent = await warden.runtime.registry.agent(agent_id)
        assert agent.status is AgentStatus.SUSPENDED and agent.status_reason == "review"
    assert not await warden.allowed(AP, "erp.invoice.read")
    assert (await warden.runtime.registry.agent(HR)).status is AgentStatus.ACTIVE
    assert await warden.allowed(HR, "hr.read")


async def test_an_owner_cannot_decide_on_another_owners_agent(warden: Warden) -> None:
    opened = await warden.ok("POST", "/v1/reviews", json=campaign_body(kind="all"))
    ann = await warden.person(ANN, Role.OWNER)
    items = (await warden.ok("GET", f"/v1/reviews/{opened['id']}/items?reviewer={BOB}"))["items"]
    [hr_item] = [i for i in items if i["agent_id"] == HR]
    response = await warden.call(
        "POST",
        f"/v1/reviews/{opened['id']}/items/{hr_item['number']}/decision",
        ann,
        json={"decision": "revoke"},
    )
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert f"`{ANN}` is not a reviewer" in response.json()["message"]
    assert await warden.allowed(HR, "hr.read")
    item = await warden.ok("GET", f"/v1/reviews/{opened['id']}/items?reviewer={BOB}&state=pending")
    assert hr_item["number"] in [i["number"] for i in item["items"]]


async def test_an_auditor_reads_everything_and_changes_nothing(warden: Warden) -> None:
    opened = await warden.ok("POST", "/v1/reviews", json=campaign_body(kind="all"))
    campaign = opened["id"]
    auditor = await warden.person("audit@acme.example", Role.AUDITOR)
    approver = await warden.person(ANN, Role.APPROVER)  # an owner of AP, without the role
    for path in ("/v1/reviews", f"/v1/reviews/{campaign}", f"/v1/reviews/{campaign}/items"):
        assert (await warden.call("GET", path, auditor)).status_code == 200
    writes = [
        ("/v1/reviews", campaign_body()),
        (f"/v1/reviews/{campaign}/items/1/decision", {"decision": "certify"}),
        (f"/v1/reviews/{campaign}/items/1/decision", {"decision": "revoke"}),
        (f"/v1/reviews/{campaign}/close", None),
    ]
    for token in (auditor, approver):
        for path, body in writes:
            response = await warden.call("POST", path, token, json=body)
            assert response.status_code == 403, (path, response.text)
    owner = await warden.person(ANN, Role.OWNER)
    for path, body in (writes[0], writes[3]):  # opening and closing are for admins
        assert (await warden.call("POST", path, owner, json=body)).status_code == 403
    unauthenticated = await warden.http.get("/v1/reviews")
    assert unauthenticated.status_code == 401
    after = await warden.ok("GET", f"/v1/reviews/{campaign}")
    assert after["state"] == "open" and after["progress"]["pending"] == after["progress"]["total"]
    assert len(await warden.events("review:campaign:opened")) == 1
    assert await warden.events("review:item:decided") == []


async def test_an_admin_closes_early_and_bad_input_names_the_field(warden: Warden) -> None:
    past = {**campaign_body(), "deadline": "2020-01-01T00:00:00Z"}
    response = await warden.call("POST", "/v1/reviews", json=past)
    assert response.status_code == 400 and response.json()["field"] == "deadline"
    naive = {**campaign_body(), "deadline": "2099-01-01T00:00:00"}
    response = await warden.call("POST", "/v1/reviews", json=naive)
    assert response.status_code == 400 and response.json()["field"] == "deadline"
    nobody = campaign_body(kind="team", value="legal")
    response = await warden.call("POST", "/v1/reviews", json=nobody)
    assert response.status_code == 400 and response.json()["field"] == "scope"
    unknown = await warden.call("GET", "/v1/reviews/rev-nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "campaign_not_found"

    opened = await warden.ok("POST", "/v1/reviews", json=campaign_body(kind="owner", value=BOB))
    closed = await warden.ok("POST", f"/v1/reviews/{opened['id']}/close")
    assert closed["state"] == "closed" and closed["closed_by"] == "admin"
    assert closed["progress"]["expired"] == 4  # AP's three grants and HR's one
    for tool in TOOLS:
        assert not await warden.allowed(AP if tool != "hr.read" else HR, tool)
    again = await warden.call("POST", f"/v1/reviews/{opened['id']}/close")
    assert again.status_code == 409 and again.json()["error"] == "campaign_closed"
    [ended] = await warden.events("review:campaign:closed")
    assert ended["actor"] == "admin" and ended["reason"] == "closed"
    listed = await warden.ok("GET", "/v1/reviews?state=closed")
    assert [c["id"] for c in listed["campaigns"]] == [opened["id"]]
    assert (await warden.ok("GET", "/v1/reviews?state=open"))["campaigns"] == []
