"""Chains outlive a restart (SQLite and PostgreSQL): hops, child mandates and revocations are
stored, so an assertion issued before the restart still verifies after it — and a revoked
branch stays revoked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT
from warden.tokens.settings import TokenSettings

ADMIN = {"Authorization": "Bearer restart-admin-token-0123456789"}
ISSUER = "http://warden.test"
DOMAIN = "acme.example"
API = "https://erp.acme.example/api"
NAMES = ("root", "a1", "a2")
AGENTS = {n: f"spiffe://{DOMAIN}/agent/{n}" for n in NAMES}
SETTINGS = TokenSettings(issuer=ISSUER, trust_domain=DOMAIN)


@asynccontextmanager
async def warden(url: str) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    runtime = await Runtime.open(url, token_settings=SETTINGS)
    app = create_app(runtime, admin_token=ADMIN["Authorization"].split()[1])
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=ISSUER
        ) as http:
            yield runtime, http
    finally:
        await runtime.close()


async def provision(http: httpx.AsyncClient) -> dict[str, tuple[str, str]]:
    policy = {"policies": {"all.cedar": '@id("all") permit (principal, action, resource);\n'}}
    assert (await http.post("/v1/policies", json=policy, headers=ADMIN)).status_code == 201
    tool = {"name": "erp.invoice.read", "annotations": {"read_only": True}}
    assert (await http.post("/v1/tools", json=tool, headers=ADMIN)).status_code == 201
    secrets: dict[str, tuple[str, str]] = {}
    for name in NAMES:
        agent = {"id": AGENTS[name], "display_name": name, "owner": "ann@acme.example", "team": "f"}
        assert (await http.post("/v1/agents", json=agent, headers=ADMIN)).status_code == 201
        metadata = {
            "spiffe_id": AGENTS[name],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
            "scope": "invoices:read",
            "resources": [API],
        }
        body = (await http.post("/oauth2/register", json=metadata, headers=ADMIN)).json()
        secrets[name] = (body["client_id"], body["client_secret"])
    return secrets


async def delegate(
    http: httpx.AsyncClient,
    secrets: dict[str, tuple[str, str]],
    subject: str,
    name: str,
    **form: str,
) -> dict[str, Any]:
    own = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "resource": API},
        auth=secrets[name],
    )
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": subject,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "actor_token": own.json()["access_token"],
        "actor_token_type": ACCESS_TOKEN_TYPE,
        **form,
    }
    answer = await http.post("/oauth2/token", data=data, auth=secrets[name])
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def read(agent: str, hop: dict[str, Any]) -> DecisionRequest:
    context = {"chain": hop["chain"], "mandate": hop["mandate"]}
    return DecisionRequest(
        Entity("agent", AGENTS[agent]),
        Action("invoke"),
        Entity("tool", "erp.invoice.read"),
        context,
    )


async def test_hops_and_revocations_survive_a_restart(database_url: str) -> None:
    async with warden(database_url) as (runtime, http):
        secrets = await provision(http)
        spec = {"person": "ann@acme.example", "request": "Reconcile the March invoices"}
        mandate = (await http.post("/v1/mandates", json=spec, headers=ADMIN)).json()["token"]
        root = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "resource": API},
            auth=secrets["root"],
        )
        first = await delegate(http, secrets, root.json()["access_token"], "a1", mandate=mandate)
        second = await delegate(http, secrets, first["access_token"], "a2")
        assert (await runtime.decide(read("a2", second))).outcome is Outcome.ALLOW
        await runtime.chains.revoke(
            second["hop_id"], actor="ir@acme.example", reason="test", now=datetime.now(UTC)
        )

    async with warden(database_url) as (runtime, http):
        # Issued before the restart, verified after it: the hops were stored, not just cached.
        assert (await runtime.decide(read("a1", first))).outcome is Outcome.ALLOW
        revoked = await runtime.decide(read("a2", second))
        assert revoked.outcome is Outcome.DENY
        assert "chain.revoked" in [r.code for r in revoked.reasons]
        # The chain keeps delegating from its live branch after the restart.
        again = await delegate(http, secrets, first["access_token"], "a2")
        assert again["chain_id"] == first["chain_id"] and again["chain_depth"] == 2
        assert (await runtime.decide(read("a2", again))).outcome is Outcome.ALLOW
