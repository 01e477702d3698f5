"""PyPI's scim2-tester against a running Warden (uvicorn, real store): every check it runs
passes, over discovery, Users, Groups and Agents.

The tester describes the server from what ``/Schemas``, ``/ResourceTypes`` and
``/ServiceProviderConfig`` publish, and fills resources with random values. The one thing
it cannot guess is that an agent's owners are email addresses (a random string is not
one), so the test adds example owners to its copy of the Agent schema — as
``canonicalValues``, which the tester draws values from — before handing it the
description. The server's own schemas are used unchanged.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient
from scim2_models import ResourceType, Schema, ScimProvider, ServiceProviderConfig
from scim2_tester import Status, check_server

from conftest import LiveServer
from warden.scim.models import GOVERNANCE_SCHEMA

ADMIN = "scim-tester-admin-token-0123456789"
PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


class HttpxScimClient(BaseSyncSCIMClient):
    """scim2-client over an :class:`httpx.Client` (scim2-client ships an httpx2 engine)."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return url.netloc == base.netloc and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


def described_with_example_owners(http: httpx.Client) -> ScimProvider:
    """The server as it describes itself, plus example owner emails for the tester."""
    schemas = http.get("/Schemas").json()["Resources"]
    for schema in schemas:
        if schema["id"] == GOVERNANCE_SCHEMA:
            for attribute in schema["attributes"]:
                if attribute["name"] in ("owner", "coOwners"):
                    name = attribute["name"].lower()
                    attribute["canonicalValues"] = [f"{name}{i}@acme.example" for i in range(9)]
    types = http.get("/ResourceTypes").json()["Resources"]
    config = http.get("/ServiceProviderConfig").json()
    return ScimProvider.from_discovery(
        [Schema.model_validate(s) for s in schemas],
        [ResourceType.model_validate(t) for t in types],
        ServiceProviderConfig.model_validate(config),
    )


def test_scim2_tester_passes_every_check(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(ADMIN)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=f"{server.url}/scim/v2", headers=headers, timeout=30) as http:
        client = HttpxScimClient(http, provider=described_with_example_owners(http))
        results = check_server(client)

    failed = [(r.resource_type, r.title, r.status.name, r.reason) for r in results]
    failed = [f for f, r in zip(failed, results, strict=True) if r.status not in PASSED]
    assert failed == []
    counts = collections.Counter(r.resource_type or "discovery" for r in results)
    print(f"scim2-tester: {len(results)} checks passed: {dict(counts)}")
    assert set(counts) == {"discovery", "User", "Group", "Agent"}
    assert len(results) >= 150
    titles = {r.title for r in results if r.resource_type == "Agent"}
    assert {"object_creation", "check_replace_attribute", "object_deletion"} <= titles
