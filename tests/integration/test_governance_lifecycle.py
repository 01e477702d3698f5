"""Issue 4: the agent lifecycle, owners and orphaning, expiry, Warden's own roles, and the
inventory — over the real admin API and the real decision pipeline, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from warden.audit.models import EventType
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.models import AgentStatus
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime
from warden.server.app import create_app

ADMIN = "governance-admin-token-0123456789"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"
PERMIT_ALL = Bundle({"all.cedar": "permit(principal, action, resource);"}, default_schema())


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def call(
        self, method: str, path: str, token: str = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def decide(self, agent: str, tool: str = "erp.invoice.read") -> dict[str, Any]:
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

    async def events(self, event_type: EventType) -> list[dict[str, Any]]:
        entries = await self.runtime.ledger_store.tail(1000)
        return [dict(e.payload) for e in entries if e.event_type == event_type]


@pytest.fixture
async def warden(database_url: str) -> AsyncIterator[Warden]:
    runtime = await Runtime.open(database_url)
    await runtime.apply_policies(PERMIT_ALL, author="test")
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as http:
            yield Warden(runtime, http)
    finally:
        await runtime.close()


def agent(agent_id: str = AP, owner: str = "ana@acme.example", **extra: Any) -> dict[str, Any]:
    return {"id": agent_id, "display_name": "AP clerk", "owner": owner, "team": "finance", **extra}


def reason_codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["context"]["reasons"]]


def messages(result: dict[str, Any]) -> str:
    return " ".join(r["message"] for r in result["context"]["reasons"])


# -- lifecycle -------------------------------------------------------------------------------


async def test_the_lifecycle_from_provisioned_to_retired(warden: Warden) -> None:
    created = await warden.call("POST", "/v1/agents", json=agent(status="provisioned"))
    assert created.status_code == 201
    assert "agent.provisioned" in reason_codes(await warden.decide(AP))

    path = f"/v1/agents/{AP}/status"
    activated = await warden.call("POST", path, json={"status": "active", "reason": "go live"})
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert (await warden.decide(AP))["decision"] is True

    why = "unexpected bulk export, ticket SEC-1142"
    suspended = await warden.call("POST", path, json={"status": "suspended", "reason": why})
    assert suspended.json()["status_reason"] == why
    denied = await warden.decide(AP)
    assert denied["decision"] is False
    assert reason_codes(denied) == ["agent.suspended"]
    assert "suspended" in messages(denied) and "SEC-1142" in messages(denied)

    await warden.call("POST", path, json={"status": "active", "reason": "cleared"})
    assert (await warden.decide(AP))["decision"] is True
    await warden.call("POST", path, json={"status": "retired", "reason": "replaced by v2"})
    assert reason_codes(await warden.decide(AP)) == ["agent.retired"]

    back = await warden.call("POST", path, json={"status": "active", "reason": "oops"})
    assert back.status_code == 409
    assert "cannot go from retired to active" in back.json()["message"]
    edit = await warden.call("PATCH", f"/v1/agents/{AP}", json={"purpose": "x"})
    assert edit.status_code == 409
    kept = await warden.call("GET", f"/v1/agents/{AP}")
    assert kept.status_code == 200 and kept.json()["status"] == "retired"

    changes = await warden.events(EventType.REGISTRY_AGENT_STATUS_CHANGED)
    assert [(c["from"], c["to"], c["reason"], c["actor"]) for c in changes] == [
        ("provisioned", "active", "go live", "admin"),
        ("active", "suspended", why, "admin"),
        ("suspended", "active", "cleared", "admin"),
        ("active", "retired", "replaced by v2", "admin"),
    ]


async def test_a_suspended_agent_is_denied_under_every_spelling_of_its_type(
    warden: Warden,
) -> None:
    await warden.call("POST", "/v1/agents", json=agent())
    await warden.call(
        "POST", f"/v1/agents/{AP}/status", json={"status": "suspended", "reason": "incident"}
    )
    for spelling in ("agent", "Agent", "agent_"):  # each one is Cedar's `Agent`
        body = {
            "subject": {"type": spelling, "id": AP},
            "action": {"name": "invoke"},
            "resource": {"type": "Tool", "id": "erp.invoice.read"},
        }
        result = (await warden.http.post("/access/v1/evaluation", json=body)).json()
        assert result["decision"] is False, spelling
        assert reason_codes(result) == ["agent.suspended"], spelling


async def test_a_transition_needs_a_reason_and_a_known_status(warden: Warden) -> None:
    await warden.call("POST", "/v1/agents", json=agent())
    path = f"/v1/agents/{AP}/status"
    no_reason = await warden.call("POST", path, json={"status": "suspended"})
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    bogus = await warden.call("POST", path, json={"status": "paused", "reason": "x"})
    assert bogus.status_code == 400 and bogus.json()["field"] == "status"
    same = await warden.call("POST", path, json={"status": "active", "reason": "x"})
    assert same.status_code == 409 and "already active" in same.json()["message"]
    missing = await warden.call(
        "POST", "/v1/agents/spiffe://acme.example/agent/nope/status",
        json={"status": "suspended", "reason": "x"},
    )  # fmt: skip
    assert missing.status_code == 404


async def test_an_expired_agent_is_denied_at_once_and_suspended_by_housekeeping(
    warden: Warden,
) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    await warden.call("POST", "/v1/agents", json=agent(expires_at=soon.isoformat()))
    assert (await warden.decide(AP))["decision"] is True

    later = soon + timedelta(minutes=1)
    # The decision at an instant past the expiry is denied even before housekeeping runs.
    request = _request(AP)
    from warden.decisions.pipeline import evaluate

    judged = evaluate(warden.runtime.view, warden.runtime.analysers, request, later, "d-1")
    assert [r.code for r in judged.reasons] == ["agent.expired"]

    await warden.runtime.housekeep(later)
    shown = (await warden.call("GET", f"/v1/agents/{AP}")).json()
    assert (shown["status"], shown["status_reason"]) == ("suspended", "expired")
    [change] = await warden.events(EventType.REGISTRY_AGENT_STATUS_CHANGED)
    assert (change["actor"], change["reason"]) == ("warden", "expired")


async def test_housekeeping_leaves_an_expired_provisioned_agent_provisioned(warden: Warden) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await warden.call("POST", "/v1/agents", json=agent(status="provisioned", expires_at=past))
    await warden.runtime.housekeep()  # no error, no transition the lifecycle forbids
    assert (await warden.call("GET", f"/v1/agents/{AP}")).json()["status"] == "provisioned"
    await warden.call("POST", f"/v1/agents/{AP}/status", json={"status": "active", "reason": "go"})
    assert reason_codes(await warden.decide(AP)) == ["agent.expired"]


def _request(agent_id: str) -> Any:
    from warden.decisions.models import Action, DecisionRequest, Entity

    return DecisionRequest(
        Entity("agent", agent_id), Action("invoke"), Entity("tool", "erp.invoice.read")
    )


# -- owners ----------------------------------------------------------------------------------


class Directory:
    """The people the IdP has deactivated, as the SCIM server reports them."""

    def __init__(self) -> None:
        self.gone: set[str] = set()

    async def inactive(self, people: Collection[str]) -> set[str]:
        return {p for p in people if p in self.gone}


async def test_a_single_owner_is_warned_about(warden: Warden) -> None:
    single = (await warden.call("POST", "/v1/agents", json=agent())).json()
    assert any("single owner" in w for w in single["warnings"])
    two = agent(HR, co_owners=["bo@acme.example"])
    paired = (await warden.call("POST", "/v1/agents", json=two)).json()
    assert paired["owners"] == ["ana@acme.example", "bo@acme.example"]
    assert paired["warnings"] == []


async def test_agents_of_a_departed_owner_are_orphaned_until_reassigned(warden: Warden) -> None:
    directory = Directory()
    warden.runtime.registry.directory = directory
    await warden.call("POST", "/v1/agents", json=agent())  # ana alone
    await warden.call("POST", "/v1/agents", json=agent(HR, co_owners=["bo@acme.example"]))

    directory.gone.add("ana@acme.example")
    now = datetime.now(UTC)
    orphaned = await warden.runtime.registry.owner_deactivated(
        "ana@acme.example", actor="scim:okta", now=now
    )
    assert [a.id for a in orphaned] == [AP]  # HR still has bo
    denied = await warden.decide(AP)
    assert reason_codes(denied) == ["agent.suspended"] and "orphaned" in messages(denied)
    assert (await warden.decide(HR))["decision"] is True
    report = (await warden.call("GET", "/v1/agents/orphaned")).json()["agents"]
    assert [a["id"] for a in report] == [AP]

    # Reassigning to someone who has also left does not bring it back.
    directory.gone.add("cy@acme.example")
    still = await warden.call("PATCH", f"/v1/agents/{AP}", json={"owners": ["cy@acme.example"]})
    assert still.json()["status"] == "suspended"
    back = await warden.call(
        "PATCH", f"/v1/agents/{AP}", json={"owners": ["dee@acme.example", "bo@acme.example"]}
    )
    assert (back.json()["status"], back.json()["owners"]) == (
        "active",
        ["dee@acme.example", "bo@acme.example"],
    )
    assert (await warden.decide(AP))["decision"] is True
    [event] = await warden.events(EventType.REGISTRY_AGENT_ORPHANED)
    assert (event["agent_id"], event["owner"], event["actor"]) == (
        AP,
        "ana@acme.example",
        "scim:okta",
    )


async def test_an_agent_whose_owners_have_all_left_is_refused(warden: Warden) -> None:
    directory = Directory()
    warden.runtime.registry.directory = directory
    directory.gone.add("ana@acme.example")
    refused = await warden.call("POST", "/v1/agents", json=agent())
    assert refused.status_code == 400
    assert refused.json()["field"] == "owner" and "deactivated" in refused.json()["message"]
    with_deputy = agent(co_owners=["bo@acme.example"])
    assert (await warden.call("POST", "/v1/agents", json=with_deputy)).status_code == 201


async def test_a_returning_owner_revives_their_orphaned_agents(warden: Warden) -> None:
    directory = Directory()
    warden.runtime.registry.directory = directory
    await warden.call("POST", "/v1/agents", json=agent())
    directory.gone.add("ana@acme.example")
    now = datetime.now(UTC)
    await warden.runtime.registry.owner_deactivated("ana@acme.example", actor="scim", now=now)
    assert (await warden.decide(AP))["decision"] is False
    directory.gone.clear()
    resumed = await warden.runtime.registry.owner_reactivated(
        "ana@acme.example", actor="scim", now=now
    )
    assert [a.status for a in resumed] == [AgentStatus.ACTIVE]
    assert (await warden.decide(AP))["decision"] is True


async def test_suspended_by_hand_is_not_revived_by_a_returning_owner(warden: Warden) -> None:
    await warden.call("POST", "/v1/agents", json=agent())
    await warden.call(
        "POST", f"/v1/agents/{AP}/status", json={"status": "suspended", "reason": "incident"}
    )
    now = datetime.now(UTC)
    assert (
        await warden.runtime.registry.owner_reactivated("ana@acme.example", actor="scim", now=now)
        == []
    )
    assert (await warden.decide(AP))["decision"] is False


# -- Warden's own roles ----------------------------------------------------------------------


async def test_an_owner_manages_only_their_own_agents(warden: Warden) -> None:
    await warden.call("POST", "/v1/agents", json=agent(AP, "ana@acme.example"))
    await warden.call("POST", "/v1/agents", json=agent(HR, "bo@acme.example"))
    ana = await warden.person("ana@acme.example", "owner")

    own = await warden.call(
        "POST", f"/v1/agents/{AP}/status", ana, json={"status": "suspended", "reason": "mine"}
    )
    assert own.status_code == 200
    other = await warden.call(
        "POST", f"/v1/agents/{HR}/status", ana, json={"status": "suspended", "reason": "hers"}
    )
    assert other.status_code == 403
    assert "not an owner" in other.json()["message"]
    edit = await warden.call("PATCH", f"/v1/agents/{HR}", ana, json={"team": "ana's now"})
    assert edit.status_code == 403
    foreign = await warden.call(
        "POST", "/v1/agents", ana, json=agent("spiffe://acme.example/agent/x", "bo@acme.example")
    )
    assert foreign.status_code == 403
    assert (await warden.decide(HR))["decision"] is True  # untouched
    [change] = await warden.events(EventType.REGISTRY_AGENT_STATUS_CHANGED)
    assert change["actor"] == "ana@acme.example"  # the ledger names the person


async def test_an_auditor_reads_everything_and_changes_nothing(warden: Warden) -> None:
    await warden.call("POST", "/v1/agents", json=agent())
    auditor = await warden.person("aud@acme.example", "auditor")
    for path in (
        "/v1/agents",
        f"/v1/agents/{AP}",
        "/v1/tools",
        "/v1/audit/entries",
        "/v1/policies",
    ):
        response = await warden.call("GET", path, auditor)
        assert response.status_code == 200, (path, response.text)

    writes: list[tuple[str, str, Any]] = [
        ("POST", "/v1/agents", agent(HR, "aud@acme.example")),
        ("POST", f"/v1/agents/{AP}/status", {"status": "suspended", "reason": "x"}),
        ("PATCH", f"/v1/agents/{AP}", {"purpose": "x"}),
        ("POST", "/v1/tools", {"name": "x.y"}),
        ("POST", "/v1/policies", {"policies": {"a.cedar": "forbid(principal, action, resource);"}}),
        ("POST", "/v1/access/tokens", {"person": "aud@acme.example", "roles": ["admin"]}),
        ("POST", "/v1/keys/rotate", None),
    ]
    for method, path, body in writes:
        response = await warden.call(method, path, auditor, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert (await warden.decide(AP))["decision"] is True
    assert len(await warden.events(EventType.REGISTRY_AGENT_STATUS_CHANGED)) == 0


async def test_a_revoked_or_unknown_token_is_refused(warden: Warden) -> None:
    token = await warden.person("ana@acme.example", "owner")
    assert (await warden.call("GET", "/v1/agents", token)).status_code == 200
    [issued] = (await warden.call("GET", "/v1/access/tokens")).json()["tokens"]
    assert "token" not in issued  # the secret is never listed
    await warden.call("DELETE", f"/v1/access/tokens/{issued['id']}")
    refused = await warden.call("GET", "/v1/agents", token)
    assert refused.status_code == 401
    assert token not in refused.text
    assert (await warden.call("GET", "/v1/agents", "wdn_0000_forged")).status_code == 401
    entries = await warden.runtime.ledger_store.tail(100)
    assert all(token not in e.payload_json and token not in str(e.payload) for e in entries)


# -- inventory -------------------------------------------------------------------------------


async def test_the_inventory_filters_searches_and_pages(warden: Warden) -> None:
    specs = [
        AgentSpec(
            id=f"spiffe://acme.example/agent/bot-{i:03d}",
            display_name=f"{'Payroll' if i % 10 == 0 else 'Helper'} bot {i}",
            owner=f"owner{i % 3}@acme.example",
            team="hr" if i % 2 else "finance",
            risk_tier="high" if i % 5 == 0 else "low",
        )
        for i in range(120)
    ]
    await warden.runtime.registry.register_agents(specs, actor="test", now=datetime.now(UTC))
    await warden.decide(specs[7].id)
    await warden.runtime.housekeep()  # stores last activity

    async def page(**params: Any) -> dict[str, Any]:
        response = await warden.call("GET", "/v1/agents", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = await page(limit=50)
    assert (first["total"], len(first["agents"]), first["next_offset"]) == (120, 50, 50)
    last = await page(limit=50, offset=100)
    assert (len(last["agents"]), last["next_offset"]) == (20, None)
    ids = [a["id"] for p in (first, await page(limit=50, offset=50), last) for a in p["agents"]]
    assert ids == sorted(s.id for s in specs)

    finance_high = await page(team="finance", risk_tier="high")
    assert finance_high["total"] == 12  # every 10th
    assert (await page(owner="OWNER1@acme.example"))["total"] == 40
    assert (await page(q="payroll"))["total"] == 12
    assert (await page(q="100%"))["total"] == 0  # LIKE wildcards are literal
    active = await page(active_since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert [a["id"] for a in active["agents"]] == [specs[7].id]
    idle = await page(inactive_since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert idle["total"] == 119
    newest_first = await page(sort="display_name", desc="true", limit=1)
    assert newest_first["agents"][0]["display_name"] == "Payroll bot 90"
    bad = await warden.call("GET", "/v1/agents", params={"status": "sleeping"})
    assert bad.status_code == 400 and bad.json()["field"] == "query.status"


async def test_a_status_change_holds_on_the_very_next_decision_among_10000_agents(
    sqlite_url: str,
) -> None:
    runtime = await Runtime.open(sqlite_url)
    try:
        await runtime.apply_policies(PERMIT_ALL, author="test")
        specs = [
            AgentSpec(
                id=f"spiffe://acme.example/agent/a{i:05d}",
                display_name=f"agent {i}",
                owner=f"o{i % 300}@acme.example",
                team=f"team{i % 40}",
            )
            for i in range(10_000)
        ]
        await runtime.registry.register_agents(specs, actor="test", now=datetime.now(UTC))
        target = specs[5_000].id
        assert (await runtime.decide(_request(target))).outcome.value == "allow"
        graph_before = runtime.view.graph.handle
        for status, outcome in (("suspended", "deny"), ("active", "allow"), ("suspended", "deny")):
            await runtime.registry.transition(
                target, AgentStatus(status), actor="t", reason="r", now=datetime.now(UTC)
            )
            # No waiting, no refresh: the very next decision sees the change...
            assert (await runtime.decide(_request(target))).outcome.value == outcome
        # ...and so does every decision after the background rebuild has swapped in.
        await runtime.settled()
        assert runtime.view.graph.handle is not graph_before
        assert (await runtime.decide(_request(target))).outcome.value == "deny"
        neighbour = specs[5_001].id
        assert (await runtime.decide(_request(neighbour))).outcome.value == "allow"
    finally:
        await runtime.close()
