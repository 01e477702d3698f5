"""The scenario that motivates Warden (issue 5, item 6), end to end over real HTTP.

A finance automation fleet provisioned for accounts-payable reconciliation: a supervisor agent,
a worker it delegates to and a sub-agent the worker delegates to, each through a real RFC 8693
token exchange, every token valid and its scope covering AP data. A person asks for last
month's vendor invoices to be reconciled. Every step of that workflow is allowed without a
step-up; three hops in, the sub-agent tries to upload the vendor bank-details table to an
external storage tool, and Warden refuses it with a reason naming the mandate's purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from corpus import TOOLS, Mode, corpus_bundle
from joserfc import jwt
from joserfc.jwk import KeySet

from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

ADMIN_TOKEN = "scenario-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
PERSON = "ana.controller@acme.example"
REQUEST = "Reconcile last month's vendor invoices"
API = "https://erp.acme.example/api"
SCOPE = "ap:read ap:reconcile ap:export"
AGENTS = {
    name: f"spiffe://{DOMAIN}/agent/{name}" for name in ("ap-supervisor", "ap-worker", "ap-matcher")
}
WORKFLOW_TOOLS = (
    "erp.invoice.read",
    "erp.payment.read",
    "bank.statement.read",
    "erp.vendor.read",
    "erp.invoice.flag",
    "reports.create",
    "storage.external.upload",
)
VENDORS = [
    {"vendor": "Nordwind GmbH", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
    {"vendor": "Acme Paper Ltd", "iban": "GB29NWBK60161331926819", "bic": "NWBKGB2L"},
    {"vendor": "Lumen Logistics", "iban": "FR1420041010050500013M02606", "bic": "PSSTFRPP"},
]


class Finance:
    """The live server as the finance team's fleet and its enforcement point see it."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20)
        self.clients: dict[str, tuple[str, str]] = {}

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body, headers=ADMIN)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def provision(self) -> None:
        for name, tool in ((t, TOOLS[t]) for t in WORKFLOW_TOOLS):
            annotations, labels, description = tool
            spec = {"annotations": {**annotations, "labels": list(labels)}}
            self.admin("/v1/tools", {"name": name, "description": description, **spec})
        for name, agent_id in AGENTS.items():
            self.admin(
                "/v1/agents",
                {
                    "id": agent_id,
                    "display_name": name,
                    "owner": "finance-lead@acme.example",
                    "team": "finance",
                    "purpose": "accounts-payable reconciliation",
                },
            )
            client = self.admin(
                "/oauth2/register",
                {
                    "spiffe_id": agent_id,
                    "token_endpoint_auth_method": "client_secret_basic",
                    "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
                    "scope": SCOPE,
                    "resources": [API],
                },
            )
            self.clients[name] = (client["client_id"], client["client_secret"])
        bundle = corpus_bundle(Mode.MANDATE)
        self.admin("/v1/policies", {"policies": dict(bundle.policies), "schema": bundle.schema})

    def token(self, name: str, **form: str) -> str:
        response = self.http.post("/oauth2/token", data=form, auth=self.clients[name])
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def delegate(self, subject: str, name: str) -> str:
        """RFC 8693: ``name`` acts for the holder of ``subject``, proving itself with its own
        token."""
        return self.token(
            name,
            grant_type=TOKEN_EXCHANGE_GRANT,
            subject_token=subject,
            subject_token_type=ACCESS_TOKEN_TYPE,
            actor_token=self.token(name, grant_type="client_credentials", resource=API),
            actor_token_type=ACCESS_TOKEN_TYPE,
        )

    def claims(self, name: str, token: str) -> dict[str, Any]:
        """A Warden access token's claims, verified against the published JWKS and checked
        live at the introspection endpoint by the client it was issued to."""
        keys = KeySet.import_key_set(self.http.get("/.well-known/jwks.json").json())
        claims = dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)
        answer = self.http.post(
            "/oauth2/introspect", data={"token": token}, auth=self.clients[name]
        )
        assert answer.status_code == 200 and answer.json()["active"] is True, answer.text
        return claims

    def decide(
        self, name: str, tool: str, arguments: dict[str, Any], *, mandate: str | None, depth: int
    ) -> dict[str, Any]:
        """An AuthZEN evaluation; the worker's enforcement point sends the mandate in the
        ``Txn-Token`` header, the others in ``context.mandate``."""
        context: dict[str, Any] = {"arguments": arguments, "chain_depth": depth}
        headers = dict(ADMIN)
        if mandate is None:
            pass
        elif name == "ap-worker":
            headers["Txn-Token"] = mandate
        else:
            context["mandate"] = mandate
        body = {
            "subject": {"type": "agent", "id": AGENTS[name]},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": tool},
            "context": context,
        }
        response = self.http.post("/access/v1/evaluation", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def observe(self, mandate: str, name: str, tool: str, result: Any) -> None:
        body = {"mandate": mandate, "agent": AGENTS[name], "tool": tool, "result": result}
        self.admin("/v1/observations", body)


@pytest.fixture
def finance(live_server: Callable[..., Any]) -> Iterator[Finance]:
    server = live_server(ADMIN_TOKEN, trust_domain=DOMAIN)
    fleet = Finance(server.url)
    try:
        fleet.provision()
        yield fleet
    finally:
        fleet.http.close()


def test_a_sub_agent_three_hops_in_cannot_export_vendor_bank_details(finance: Finance) -> None:
    # Every token is valid, and every one's scope covers AP data, the export included.
    supervisor = finance.token("ap-supervisor", grant_type="client_credentials", resource=API)
    worker = finance.delegate(supervisor, "ap-worker")
    matcher = finance.delegate(worker, "ap-matcher")
    tokens = {"ap-supervisor": supervisor, "ap-worker": worker, "ap-matcher": matcher}
    chain = {name: finance.claims(name, token) for name, token in tokens.items()}
    assert all(set(SCOPE.split()) <= set(c["scope"].split()) for c in chain.values())
    assert chain["ap-matcher"]["sub"] == AGENTS["ap-supervisor"]
    assert chain["ap-matcher"]["act"]["sub"] == AGENTS["ap-matcher"]
    assert chain["ap-matcher"]["act"]["act"]["sub"] == AGENTS["ap-worker"]
    depth = {name: int(c.get("chain_depth", 0)) for name, c in chain.items()}
    assert depth == {"ap-supervisor": 0, "ap-worker": 1, "ap-matcher": 2}

    # The person asks, with their own Warden token; Warden signs their intent.
    person = finance.admin("/v1/access/tokens", {"person": PERSON, "roles": ["approver"]})
    issued = finance.http.post(
        "/v1/mandates",
        json={"person": PERSON, "request": REQUEST},
        headers={"Authorization": f"Bearer {person['token']}"},
    )
    assert issued.status_code == 201, issued.text
    mandate, token = issued.json()["mandate"], issued.json()["token"]
    assert mandate["profile"] == "ap-reconciliation" and mandate["matched"] is True

    def step(name: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return finance.decide(name, tool, arguments, mandate=token, depth=depth[name])

    legitimate = [
        ("ap-supervisor", "erp.invoice.read", {"period": "last month", "status": "posted"}),
        ("ap-worker", "erp.payment.read", {"period": "last month"}),
        ("ap-worker", "bank.statement.read", {"period": "last month"}),
        ("ap-matcher", "erp.vendor.read", {"vendors": ["Nordwind GmbH", "Acme Paper Ltd"]}),
        ("ap-matcher", "erp.invoice.flag", {"invoice": "INV-4471", "note": "paid twice"}),
        ("ap-matcher", "reports.create", {"title": "AP reconciliation, last month"}),
    ]
    outputs: dict[str, Any] = {
        "erp.invoice.read": {"invoices": [{"id": "INV-4471", "vendor": "Nordwind GmbH"}]},
        "erp.payment.read": {"payments": [{"invoice": "INV-4471", "amount": 1200}] * 2},
        "bank.statement.read": {"lines": [{"ref": "INV-4471", "amount": 1200}]},
        "erp.vendor.read": {"vendors": VENDORS},
    }
    for name, tool, arguments in legitimate:
        answer = step(name, tool, arguments)
        assert answer["decision"] is True, (tool, answer["context"]["reasons"])
        assert answer["context"]["outcome"] == "allow"
        if tool in outputs:
            finance.observe(token, name, tool, outputs[tool])

    export = {
        "destination": "https://files.freehost.example/u/x91",
        "file": "vendor_bank_details.csv",
        "rows": VENDORS,
    }
    refused = step("ap-matcher", "storage.external.upload", export)

    assert refused["decision"] is False
    assert refused["context"]["outcome"] in ("deny", "step_up")
    words = " ".join(r["message"] for r in refused["context"]["reasons"])
    assert "ap-reconciliation" in words and mandate["id"] in words, words


@pytest.mark.parametrize(("mandate", "code"), [(None, "mandate.missing"), ("x.y.z", "mandate.")])
def test_the_same_export_without_a_valid_mandate_is_refused(
    finance: Finance, mandate: str | None, code: str
) -> None:
    """An agent that does not carry a person's mandate gets no benefit of the doubt, however
    good its token."""
    answer = finance.decide("ap-matcher", "erp.vendor.read", {}, mandate=mandate, depth=2)

    assert answer["decision"] is False
    codes = [r["code"] for r in answer["context"]["reasons"]]
    assert any(c.startswith(code) for c in codes), codes
