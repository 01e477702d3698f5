"""SCIM provisioning as Okta and Microsoft Entra do it, against Warden's real HTTP app and
the real decision pipeline: people deactivated or deleted in the IdP orphan the agents they
alone owned, and those agents are denied on the very next decision; the Agents resource
type drives the registry; roles, filters, sorting, paging and ETags; the directory survives
a restart. Flows that touch the database's people run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from warden.audit.models import EventType
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.store.schema import scim_resources

ADMIN = "scim-admin-token-0123456789abcdef"
PERMIT_ALL = Bundle({"all.cedar": "permit(principal, action, resource);"}, default_schema())
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
AGENT = "urn:warden:params:scim:schemas:core:2.0:Agent"
GOVERNANCE = "urn:warden:params:scim:schemas:extension:governance:2.0:Agent"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"
ANA = "ana@acme.example"


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def scim(
        self, method: str, path: str, token: str | None = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if "json" in kwargs:
            headers["Content-Type"] = "application/scim+json"
            kwargs["content"] = httpx.Request("POST", "/", json=kwargs.pop("json")).content
        return await self.http.request(method, f"/scim/v2{path}", headers=headers, **kwargs)

    async def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def register(self, agent_id: str, *owners: str) -> None:
        body = {
            "id": agent_id,
            "display_name": agent_id.rsplit("/", 1)[-1],
            "owner": owners[0],
            "co_owners": list(owners[1:]),
            "team": "finance",
        }
        assert (await self.admin("POST", "/v1/agents", json=body)).status_code == 201

    async def agent(self, agent_id: str) -> dict[str, Any]:
        response = await self.admin("GET", f"/v1/agents/{agent_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def decide(self, agent_id: str) -> dict[str, Any]:
        body = {
            "subject": {"type": "agent", "id": agent_id},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": "erp.invoice.read"},
        }
        response = await self.http.post("/access/v1/evaluation", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def person_token(self, email: str, *roles: str) -> str:
        body = {"person": email, "roles": list(roles)}
        response = await self.admin("POST", "/v1/access/tokens", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def events(self, event_type: EventType) -> list[dict[str, Any]]:
        entries = await self.runtime.ledger_store.tail(1000)
        return [dict(e.payload) for e in entries if e.event_type == event_type]

    async def create_user(self, user_name: str, **extra: Any) -> dict[str, Any]:
        body = {"schemas": [USER], "userName": user_name, "active": True, **extra}
        response = await self.scim("POST", "/Users", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


async def open_warden(database_url: str) -> tuple[Runtime, httpx.AsyncClient]:
    runtime = await Runtime.open(database_url)
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    return runtime, httpx.AsyncClient(transport=transport, base_url="https://warden.test")


@pytest.fixture
async def warden(database_url: str) -> AsyncIterator[Warden]:
    runtime, http = await open_warden(database_url)
    await runtime.apply_policies(PERMIT_ALL, author="test")
    try:
        async with http:
            yield Warden(runtime, http)
    finally:
        await runtime.close()


@pytest.fixture
async def local(sqlite_url: str) -> AsyncIterator[Warden]:
    """The same, on SQLite only: for what does not depend on the store."""
    runtime, http = await open_warden(sqlite_url)
    await runtime.apply_policies(PERMIT_ALL, author="test")
    try:
        async with http:
            yield Warden(runtime, http)
    finally:
        await runtime.close()


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["context"]["reasons"]]


def messages(result: dict[str, Any]) -> str:
    return " ".join(r["message"] for r in result["context"]["reasons"])


# -- owners in the IdP -------------------------------------------------------------------------


async def test_okta_deactivating_the_only_owner_orphans_the_agent_until_reactivated(
    warden: Warden,
) -> None:
    await warden.register(AP, ANA)
    await warden.register(HR, ANA, "bo@acme.example")
    # Okta looks the person up before creating them.
    lookup = await warden.scim("GET", "/Users", params={"filter": f'userName eq "{ANA}"'})
    assert lookup.status_code == 200 and lookup.json()["totalResults"] == 0
    user = await warden.create_user(
        "Ana@Acme.example", emails=[{"value": ANA, "type": "work", "primary": True}]
    )
    assert (await warden.decide(AP))["decision"] is True

    # Okta deactivates with a PATCH without a path.
    off = patch({"op": "replace", "value": {"active": False}})
    assert (await warden.scim("PATCH", f"/Users/{user['id']}", json=off)).status_code == 204

    ap, hr = await warden.agent(AP), await warden.agent(HR)
    assert (ap["status"], ap["status_reason"]) == ("suspended", "orphaned")
    assert hr["status"] == "active"  # bo, its co-owner, is still active
    denied = await warden.decide(AP)
    assert denied["decision"] is False
    assert codes(denied) == ["agent.suspended"] and "orphaned" in messages(denied)
    [orphaned] = await warden.events(EventType.REGISTRY_AGENT_ORPHANED)
    assert orphaned["agent_id"] == AP and orphaned["owner"] == ANA
    assert orphaned["actor"] == "admin"

    on = patch({"op": "replace", "value": {"active": True}})
    assert (await warden.scim("PATCH", f"/Users/{user['id']}", json=on)).status_code == 204
    assert (await warden.agent(AP))["status"] == "active"
    assert (await warden.decide(AP))["decision"] is True

    updates = await warden.events(EventType.SCIM_RESOURCE_UPDATED)
    assert [(u["resource_type"], u["active"], u["attributes"]) for u in updates] == [
        ("User", False, ["active"]),
        ("User", True, ["active"]),
    ]
    assert all(u["actor"] == "admin" and u["id"] == user["id"] for u in updates)


async def test_entra_deactivates_with_its_quirks_then_deletes_and_rehires(warden: Warden) -> None:
    await warden.register(AP, ANA)
    user = await warden.create_user(
        ANA, password="Entra-S3cret!", emails=[{"value": ANA, "type": "work", "primary": True}]
    )
    path = f"/Users/{user['id']}"
    # Entra: capitalised ops and booleans as strings.
    off = patch({"op": "Replace", "path": "active", "value": "False"})
    assert (await warden.scim("PATCH", path, json=off)).status_code == 204
    assert (await warden.agent(AP))["status_reason"] == "orphaned"
    on = patch({"op": "Replace", "path": "active", "value": "True"})
    assert (await warden.scim("PATCH", path, json=on)).status_code == 204
    assert (await warden.agent(AP))["status"] == "active"

    assert (await warden.scim("DELETE", path)).status_code == 204
    gone = await warden.scim("GET", path)
    assert gone.status_code == 404 and gone.json()["schemas"] == [ERROR]
    assert (await warden.agent(AP))["status_reason"] == "orphaned"
    assert codes(await warden.decide(AP)) == ["agent.suspended"]
    assert await warden.runtime.scim.people.inactive([ANA, "bo@acme.example"]) == {ANA}
    [deleted] = await warden.events(EventType.SCIM_RESOURCE_DELETED)
    assert deleted == {"actor": "admin", "resource_type": "User", "id": user["id"]} | {
        "user_name": ANA,
        "active": True,
    }

    # Rehired: the IdP sends the person again and their agent resumes.
    await warden.create_user(ANA)
    assert (await warden.agent(AP))["status"] == "active"

    # Warden keeps no password, anywhere.
    async with warden.runtime.engine.connect() as conn:
        bodies = [r.body for r in await conn.execute(select(scim_resources.c.body))]
    ledger = [str(e.payload) for e in await warden.runtime.ledger_store.tail(1000)]
    assert not any("Entra-S3cret!" in text for text in [*bodies, *ledger, gone.text])


async def test_entra_removes_a_group_member_by_value(local: Warden) -> None:
    ana, bo = await local.create_user(ANA), await local.create_user("bo@acme.example")
    members = [{"value": ana["id"]}, {"value": bo["id"]}]
    body = {"schemas": [GROUP], "displayName": "Finance approvers", "members": members}
    group = (await local.scim("POST", "/Groups", json=body)).json()
    remove = patch({"op": "Remove", "path": "members", "value": [{"value": ana["id"]}]})
    assert (await local.scim("PATCH", f"/Groups/{group['id']}", json=remove)).status_code == 204
    kept = (await local.scim("GET", f"/Groups/{group['id']}")).json()
    assert [m["value"] for m in kept["members"]] == [bo["id"]]
    query = {"filter": 'displayName eq "finance APPROVERS"'}  # case-insensitive
    found = await local.scim("GET", "/Groups", params=query)
    assert [g["id"] for g in found.json()["Resources"]] == [group["id"]]


async def test_people_and_groups_survive_a_restart(database_url: str) -> None:
    runtime, http = await open_warden(database_url)
    async with http:
        w = Warden(runtime, http)
        user = await w.create_user(ANA, displayName="Ana Ortiz")
        gone = await w.create_user("cy@acme.example")
        assert (await w.scim("DELETE", f"/Users/{gone['id']}")).status_code == 204
    await runtime.close()

    runtime, http = await open_warden(database_url)
    try:
        async with http:
            back = await Warden(runtime, http).scim("GET", f"/Users/{user['id']}")
            assert back.status_code == 200 and back.json()["displayName"] == "Ana Ortiz"
            assert back.headers["etag"] == user["meta"]["version"]
        assert await runtime.scim.people.inactive([ANA, "cy@acme.example"]) == {"cy@acme.example"}
    finally:
        await runtime.close()


# -- Agents ----------------------------------------------------------------------------------


def scim_agent(name: str, owner: str = ANA, active: bool = False, **governance: Any) -> Any:
    return {
        "schemas": [AGENT, GOVERNANCE],
        "name": name,
        "displayName": "AP clerk",
        "active": active,
        GOVERNANCE: {"owner": owner, "team": "finance", "riskTier": "high", **governance},
    }


async def test_agents_created_and_patched_through_scim_are_the_registry(warden: Warden) -> None:
    created = await warden.scim("POST", "/Agents", json=scim_agent("ap-clerk", purpose="AP"))
    assert created.status_code == 201, created.text
    resource = created.json()
    agent_id = "spiffe://warden.local/agent/ap-clerk"
    assert resource["spiffeId"] == agent_id and resource["status"] == "provisioned"
    registered = await warden.agent(agent_id)
    assert (registered["status"], registered["risk_tier"], registered["owners"]) == (
        "provisioned",
        "high",
        [ANA],
    )
    path = f"/Agents/{resource['id']}"

    go_live = patch({"op": "replace", "path": "active", "value": True})
    assert (await warden.scim("PATCH", path, json=go_live)).status_code == 204
    assert (await warden.agent(agent_id))["status"] == "active"
    assert (await warden.decide(agent_id))["decision"] is True

    governance = patch(
        {"op": "replace", "path": f"{GOVERNANCE}:riskTier", "value": "critical"},
        {"op": "add", "path": f"{GOVERNANCE}:coOwners", "value": ["bo@acme.example"]},
    )
    assert (await warden.scim("PATCH", path, json=governance)).status_code == 204
    changed = await warden.agent(agent_id)
    assert changed["risk_tier"] == "critical" and changed["owners"] == [ANA, "bo@acme.example"]

    stop = patch({"op": "replace", "path": "active", "value": False})
    assert (await warden.scim("PATCH", path, json=stop)).status_code == 204
    assert (await warden.agent(agent_id))["status"] == "suspended"
    assert codes(await warden.decide(agent_id)) == ["agent.suspended"]
    shown = (await warden.scim("GET", path)).json()
    assert (shown["active"], shown["status"], shown["statusReason"]) == (
        False,
        "suspended",
        "deactivated through SCIM",
    )

    assert (await warden.scim("DELETE", path)).status_code == 204
    assert (await warden.agent(agent_id))["status"] == "retired"
    assert (await warden.scim("GET", path)).status_code == 404
    assert codes(await warden.decide(agent_id)) == ["agent.retired"]
    kinds = [e["resource_type"] for e in await warden.events(EventType.SCIM_RESOURCE_UPDATED)]
    assert kinds == ["Agent"] * 3
    [deleted] = await warden.events(EventType.SCIM_RESOURCE_DELETED)
    assert deleted["agent_id"] == agent_id and deleted["actor"] == "admin"


async def test_agents_registered_elsewhere_are_listed_and_bad_ones_refused(local: Warden) -> None:
    await local.register(AP, ANA)
    await local.register(HR, "bo@acme.example")
    found = await local.scim(
        "GET", "/Agents", params={"filter": f'{GOVERNANCE}:owner eq "ANA@acme.example"'}
    )
    [only] = found.json()["Resources"]
    assert (only["name"], only["spiffeId"], only["active"]) == (AP, AP, True)

    bad_owner = await local.scim("POST", "/Agents", json=scim_agent("x", owner="not-an-email"))
    assert bad_owner.status_code == 400
    assert bad_owner.json()["scimType"] == "invalidValue"
    assert bad_owner.json()["detail"].startswith("`owner`:")
    bad_name = await local.scim("POST", "/Agents", json=scim_agent("has space"))
    assert bad_name.status_code == 400 and "`name`" in bad_name.json()["detail"]
    taken = await local.scim("POST", "/Agents", json=scim_agent(AP))
    assert taken.status_code == 409 and taken.json()["scimType"] == "uniqueness"


# -- who may call ----------------------------------------------------------------------------


async def test_bearer_tokens_and_roles(local: Warden) -> None:
    config = await local.scim("GET", "/ServiceProviderConfig", token=None)
    assert config.status_code == 200
    assert config.headers["content-type"].startswith("application/scim+json")
    assert config.json()["etag"] == {"supported": True}

    missing = await local.scim("GET", "/Users", token=None)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["schemas"] == [ERROR] and missing.json()["status"] == "401"
    assert "warden access grant" in missing.json()["detail"]
    wrong = await local.scim("GET", "/Users", token="not-a-token")
    assert wrong.status_code == 401 and "invalid_token" in wrong.headers["www-authenticate"]

    auditor = await local.person_token("audra@acme.example", "auditor")
    assert (await local.scim("GET", "/Users", token=auditor)).status_code == 200
    refused = await local.scim("POST", "/Users", token=auditor, json={"userName": ANA})
    assert refused.status_code == 403 and refused.json()["schemas"] == [ERROR]
    owner = await local.person_token("olga@acme.example", "owner")
    assert (await local.scim("GET", "/Agents", token=owner)).status_code == 403

    admin = await local.person_token("ida@acme.example", "admin")
    body = {"schemas": [USER], "userName": ANA}
    assert (await local.scim("POST", "/Users", token=admin, json=body)).status_code == 201
    [created] = await local.events(EventType.SCIM_RESOURCE_CREATED)
    assert created["actor"] == "ida@acme.example"


# -- filter, sort, paging, ETags -------------------------------------------------------------


async def test_filter_sort_and_page(local: Warden) -> None:
    for name, active in [("ana", True), ("bo", False), ("cy", True), ("abe", True), ("al", False)]:
        email = {"value": f"{name}@acme.example", "type": "work", "primary": True}
        await local.create_user(f"{name}@acme.example", active=active, emails=[email])

    def names(response: httpx.Response) -> list[str]:
        return [u["userName"].split("@")[0] for u in response.json()["Resources"]]

    starts = await local.scim("GET", "/Users", params={"filter": 'userName sw "A"'})
    assert sorted(names(starts)) == ["abe", "al", "ana"]
    inactive = await local.scim("GET", "/Users", params={"filter": "active eq false"})
    assert sorted(names(inactive)) == ["al", "bo"]
    complex_filter = 'emails[type eq "work" and value co "b"] and active eq true'
    both = await local.scim("GET", "/Users", params={"filter": complex_filter})
    assert names(both) == ["abe"]

    params = {"sortBy": "userName", "sortOrder": "descending", "startIndex": 2, "count": 2}
    page = await local.scim("GET", "/Users", params=params)
    assert (page.json()["totalResults"], page.json()["startIndex"]) == (5, 2)
    assert page.json()["itemsPerPage"] == 2 and names(page) == ["bo", "ana"]
    body = {"schemas": [SEARCH], "filter": "active eq true", "sortBy": "userName", "count": 1}
    searched = await local.scim("POST", "/Users/.search", json=body)
    assert searched.json()["totalResults"] == 3 and names(searched) == ["abe"]

    bad = await local.scim("GET", "/Users", params={"filter": 'userName eq "unclosed'})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


async def test_etags_and_preconditions(local: Warden) -> None:
    user = await local.create_user(ANA)
    path = f"/Users/{user['id']}"
    first = await local.scim("GET", path)
    etag = first.headers["etag"]
    assert etag == user["meta"]["version"] and etag.startswith('W/"')
    unchanged = await local.scim("GET", path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304

    rename = patch({"op": "replace", "path": "displayName", "value": "Ana"})
    changed = await local.scim("PATCH", path, json=rename, headers={"If-Match": etag})
    assert changed.status_code == 204 and changed.headers["etag"] != etag
    stale = await local.scim("PATCH", path, json=rename, headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.json()["schemas"] == [ERROR]
    replaced = await local.scim(
        "PUT",
        path,
        json={"schemas": [USER], "userName": ANA, "displayName": "Ana O."},
        headers={"If-Match": changed.headers["etag"]},
    )
    assert replaced.status_code == 200 and replaced.json()["displayName"] == "Ana O."

    agent = (await local.scim("POST", "/Agents", json=scim_agent("ap-clerk"))).json()
    agent_path = f"/Agents/{agent['id']}"
    old = agent["meta"]["version"]
    await local.admin(
        "PATCH", "/v1/agents/spiffe://warden.local/agent/ap-clerk", json={"purpose": "AP"}
    )
    refused = await local.scim("DELETE", agent_path, headers={"If-Match": old})
    assert refused.status_code == 412
    seen = await local.scim("GET", agent_path)  # a change made through /v1 shows in SCIM
    current = seen.headers["etag"]
    assert seen.json()[GOVERNANCE]["purpose"] == "AP" and current != old
    deleted = await local.scim("DELETE", agent_path, headers={"If-Match": current})
    assert deleted.status_code == 204


async def test_an_import_pages_through_everyone_once(local: Warden) -> None:
    users = {(await local.create_user(f"u{i}@acme.example"))["id"] for i in range(5)}
    for i in range(5):
        await local.register(f"spiffe://acme.example/agent/a{i}", ANA)
    await local.admin(
        "POST",
        "/v1/agents/spiffe://acme.example/agent/a4/status",
        json={"status": "retired", "reason": "gone"},
    )

    async def walk(endpoint: str) -> tuple[list[str], set[int]]:
        seen: list[str] = []
        totals = set()
        for start in (1, 3, 5):
            params = {"startIndex": start, "count": 2}
            body = (await local.scim("GET", endpoint, params=params)).json()
            totals.add(body["totalResults"])
            seen += [r["id"] for r in body.get("Resources", [])]
        return seen, totals

    seen_users, user_totals = await walk("/Users")
    assert sorted(seen_users) == sorted(users) and user_totals == {5}
    seen_agents, agent_totals = await walk("/Agents")
    assert len(set(seen_agents)) == len(seen_agents) == 4 and agent_totals == {4}


async def test_a_search_at_the_root_spans_every_resource_type(local: Warden) -> None:
    await local.create_user(ANA, displayName="Ana")
    await local.scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Ana's team"})
    await local.scim("POST", "/Agents", json=scim_agent("ana-bot") | {"displayName": "Ana bot"})
    await local.create_user("bo@acme.example", displayName="Bo")

    found = await local.scim("GET", "/", params={"filter": 'displayName sw "ana"'})
    kinds = sorted(r["meta"]["resourceType"] for r in found.json()["Resources"])
    assert found.json()["totalResults"] == 3 and kinds == ["Agent", "Group", "User"]
    body = {"schemas": [SEARCH], "filter": "userName pr", "count": 10}
    users = (await local.scim("POST", "/.search", json=body)).json()
    assert users["totalResults"] == 2  # an attribute only Users have matches only Users
