"""A fleet of agents over a running Warden server, for delegation chain tests: seven
registered agents with confidential clients, a purpose profile allowing six delegations, a
person's mandates, delegation by RFC 8693 exchange, and AuthZEN decisions with the chain in the
`Warden-Chain` header."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from warden.tokens.models import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import LiveServer

ADMIN_TOKEN = "chains-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
API = "https://erp.acme.example/api"
PERSON = "ann@acme.example"
NAMES = ["root", "a1", "a2", "a3", "a4", "a5", "a6"]
AGENTS = {n: f"spiffe://{DOMAIN}/agent/{n}" for n in NAMES}
EXAMPLES = Path(__file__).parents[2] / "examples"
PERMIT_ALL = '@id("all") permit (principal, action, resource);\n'
TOOLS = {
    "erp.invoice.read": {"read_only": True, "destructive": False, "external": False},
    "payments.transfer": {"read_only": False, "destructive": False, "external": True},
    "email.send": {"read_only": False, "destructive": False, "external": True},
    "crm.contacts.export": {"read_only": True, "destructive": False, "external": False},
}
PROFILE = """
name: supplier-payments
description: Pay approved supplier invoices after reading them.
examples:
  - Pay the approved invoices from Acme Supplies
  - Settle supplier invoice INV-2041
tools:
  - tool: erp.invoice.read
    read_only: true
  - tool: payments.transfer
    arguments:
      amount:
        max: 10000
  - tool: email.send
budgets:
  - name: payments
    tools: ["payments.*"]
    argument: amount
    limit: 1000
    currency: EUR
max_chain_depth: 6
max_fan_out: 2
step_up:
  - tools: ["payments.*"]
    when: {argument: amount, over: 500}
"""


@dataclass
class Fleet:
    """The server, its agents' client secrets, and the person's mandate."""

    server: LiveServer
    http: httpx.Client
    secrets: dict[str, tuple[str, str]] = field(default_factory=dict)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    def register(self, name: str) -> None:
        agent = {"id": AGENTS[name], "display_name": name, "owner": PERSON, "team": "finance"}
        assert self.admin("POST", "/v1/agents", json=agent).status_code == 201
        metadata = {
            "spiffe_id": AGENTS[name],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials", TOKEN_EXCHANGE_GRANT],
            "scope": "invoices:read invoices:pay",
            "resources": [API],
        }
        answer = self.admin("POST", "/oauth2/register", json=metadata)
        assert answer.status_code == 201, answer.text
        self.secrets[name] = (answer.json()["client_id"], answer.json()["client_secret"])

    def own_token(self, name: str) -> str:
        form = {"grant_type": "client_credentials", "resource": API}
        answer = self.http.post("/oauth2/token", data=form, auth=self.secrets[name])
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def mandate(
        self, request: str, profile: str | None = "supplier-payments", agent: str | None = None
    ) -> str:
        spec = {"person": PERSON, "request": request, "profile": profile, "agent": agent}
        answer = self.admin("POST", "/v1/mandates", json=spec)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])

    def delegate(self, subject: str, name: str, **form: str) -> httpx.Response:
        """``name`` exchanges ``subject`` (its delegator's token) for its own delegated token."""
        data = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "actor_token": self.own_token(name),
            "actor_token_type": ACCESS_TOKEN_TYPE,
            **form,
        }
        return self.http.post("/oauth2/token", data=data, auth=self.secrets[name])

    def hop(self, subject: str, name: str, **form: str) -> Hop:
        answer = self.delegate(subject, name, **form)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return Hop(name, body["access_token"], body["chain"], body["mandate"], body)

    def decide(
        self, name: str, tool: str, hop: Hop | None, mandate: str | None = None, **arguments: Any
    ) -> dict[str, Any]:
        """An AuthZEN evaluation as an enforcement point sends it: the chain and the mandate
        in the ``Warden-Chain`` and ``Txn-Token`` headers."""
        headers = dict(ADMIN)
        if hop is not None:
            headers["Warden-Chain"] = hop.chain
        if mandate or hop is not None:
            headers["Txn-Token"] = mandate or (hop.mandate if hop else "")
        body = {
            "subject": {"type": "agent", "id": AGENTS[name]},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": tool},
            "context": {"arguments": arguments},
        }
        answer = self.http.post("/access/v1/evaluation", json=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def mandate_id(self, token: str) -> str:
        """The id of a mandate (its Txn-Token's ``txn``)."""
        return str(self.claims(token)["txn"])

    def claims(self, token: str) -> dict[str, Any]:
        jwks = KeySet.import_key_set(self.http.get("/.well-known/jwks.json").json())
        return dict(jwt.decode(token, jwks, algorithms=["ES256"]).claims)


@dataclass
class Hop:
    name: str
    token: str
    chain: str
    mandate: str
    body: dict[str, Any]


@pytest.fixture
def fleet(live_server: Callable[..., LiveServer]) -> Iterator[Fleet]:
    server = live_server(ADMIN_TOKEN, trust_domain=DOMAIN, max_delegation_depth=6)
    with httpx.Client(base_url=server.url, timeout=20) as http:
        fleet = Fleet(server, http)
        bundle = {"policies": {"all.cedar": PERMIT_ALL}}
        assert fleet.admin("POST", "/v1/policies", json=bundle).status_code == 201
        answer = fleet.admin("POST", "/v1/profiles", content=PROFILE.encode())
        assert answer.status_code == 201, answer.text
        for name, annotations in TOOLS.items():
            tool = {"name": name, "annotations": annotations}
            assert fleet.admin("POST", "/v1/tools", json=tool).status_code == 201
        for name in NAMES:
            fleet.register(name)
        yield fleet


def codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["context"]["reasons"]]


def error_of(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "invalid_request"
    return str(body["error_description"])


def build(fleet: Fleet, depth: int, mandate: str, **first: str) -> list[Hop]:
    """root holds the mandate; a1..a<depth> each delegate one level deeper."""
    hops: list[Hop] = []
    subject = fleet.own_token("root")
    for level in range(1, depth + 1):
        form = {"mandate": mandate} if level == 1 else {}
        hop = fleet.hop(subject, NAMES[level], **form, **(first if level == 1 else {}))
        hops.append(hop)
        subject = hop.token
    return hops


def act_chain(claims: dict[str, Any]) -> list[str]:
    chain, act = [], claims.get("act")
    while act:
        chain.append(act["sub"])
        act = act.get("act")
    return chain
