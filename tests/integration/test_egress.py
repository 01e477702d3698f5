"""The HTTP egress gateway against real peers: a running Warden (uvicorn, SQLite) fronting a
Starlette upstream (uvicorn, :mod:`http_peers`) that requires an API key only Warden holds, called
by a registered agent with a real access token for ``<issuer>/egress/<connection>`` and a person's
mandate under the ``supplier-payments`` purpose (budget 1000 EUR, payments over 500 need a
person, at most 10000 each)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from chain_fleet import PERMIT_ALL, PERSON, PROFILE, TOOLS
from http_peers import ACCESS_TOKEN, API_KEY, CLIENT_ID, CLIENT_SECRET, HttpPeer, http_peer

from warden.gateway.connections.models import AuthKind, Connection, Limits, Protocol, Route

if TYPE_CHECKING:
    from conftest import LiveServer

__all__ = ["http_peer"]  # the fixture, used by name

ADMIN_TOKEN = "egress-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
DOMAIN = "acme.example"
AGENT = f"spiffe://{DOMAIN}/agent/payer"
OTHER_API = "https://erp.acme.example/api"
REQUEST = "Pay the approved invoices from Acme Supplies"
IBAN = "DE89370400440532013000"
ROUTES = (
    Route("GET", "/invoices/{id}", "erp.invoice.read"),
    Route("POST", "/payments", "payments.transfer"),
    Route("POST", "/contacts/export", "crm.contacts.export"),
    Route("GET", "/stream", "erp.invoice.read"),
)
LIMITED = Limits(timeout=0.5, max_request_bytes=1024, max_response_bytes=4096)
LIMITED_ROUTES = (
    Route("GET", "/slow", "erp.invoice.read"),
    Route("GET", "/{kind:path}", "erp.invoice.read"),
    Route("POST", "/payments", "payments.transfer"),
)


@dataclass
class Egress:
    server: LiveServer
    http: httpx.Client
    peer: HttpPeer
    client: tuple[str, str]

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, headers=ADMIN, **kwargs)

    def resource(self, connection: str) -> str:
        return f"{self.server.url}/egress/{connection}"

    def token(self, resource: str) -> str:
        form = {"grant_type": "client_credentials", "resource": resource}
        answer = self.http.post("/oauth2/token", data=form, auth=self.client)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def mandate(self, request: str = REQUEST) -> str:
        spec = {"person": PERSON, "request": request, "profile": "supplier-payments"}
        answer = self.admin("POST", "/v1/mandates", json={**spec, "agent": AGENT})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])

    def headers(self, mandate: str | None, connection: str = "erp") -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token(self.resource(connection))}"}
        if mandate is not None:
            headers["Txn-Token"] = mandate
        return headers

    def ledger(self, decision_id: str) -> dict[str, Any]:
        entries = self.admin("GET", "/v1/audit/entries", params={"limit": 1000}).json()["entries"]
        found = [e["payload"] for e in entries if e["payload"].get("decision_id") == decision_id]
        assert found, f"decision {decision_id} is not in the ledger"
        return dict(found[0])


@pytest.fixture
def egress(live_server: Callable[..., LiveServer], http_peer: HttpPeer) -> Iterator[Egress]:
    server = live_server(ADMIN_TOKEN, trust_domain=DOMAIN)
    runtime = server.runtime
    assert runtime is not None
    runtime.gateway.hold_seconds = 0  # a step-up is refused at once: no person in these tests
    with httpx.Client(base_url=server.url, timeout=10) as http:
        setup = Egress(server, http, http_peer, ("", ""))
        bundle = {"policies": {"all.cedar": PERMIT_ALL}}
        assert setup.admin("POST", "/v1/policies", json=bundle).status_code == 201
        assert setup.admin("POST", "/v1/profiles", content=PROFILE.encode()).status_code == 201
        for name, annotations in TOOLS.items():
            tool = {"name": name, "annotations": annotations}
            assert setup.admin("POST", "/v1/tools", json=tool).status_code == 201
        agent = {"id": AGENT, "display_name": "payer", "owner": PERSON, "team": "finance"}
        assert setup.admin("POST", "/v1/agents", json=agent).status_code == 201
        metadata = {
            "spiffe_id": AGENT,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "resources": [
                setup.resource("erp"),
                setup.resource("erp-limited"),
                setup.resource("erp-oauth"),
                OTHER_API,
            ],
        }
        answer = setup.admin("POST", "/oauth2/register", json=metadata)
        assert answer.status_code == 201, answer.text
        setup.client = (answer.json()["client_id"], answer.json()["client_secret"])
        now = datetime.now(UTC)
        for name, routes, limits in (
            ("erp", ROUTES, Limits()),
            ("erp-limited", LIMITED_ROUTES, LIMITED),
        ):
            connection = Connection(
                name=name,
                protocol=Protocol.HTTP,
                url=http_peer.url,
                auth=AuthKind.API_KEY,
                params={"header": "X-Api-Key"},
                routes=routes,
                limits=limits,
            )
            server.call(runtime.connections.create(connection, API_KEY, actor="test", now=now))
        yield setup


def codes(answer: httpx.Response) -> list[str]:
    return [r["code"] for r in answer.json()["reasons"]]


def test_a_call_without_a_token_for_the_connection_gets_401_pointing_to_its_metadata(
    egress: Egress,
) -> None:
    http = egress.http
    bare = http.get("/egress/erp/invoices/INV-1")
    assert bare.status_code == 401
    metadata_url = f"{egress.server.url}/.well-known/oauth-protected-resource/egress/erp"
    assert f'resource_metadata="{metadata_url}"' in bare.headers["www-authenticate"]
    document = http.get(metadata_url)
    assert document.status_code == 200
    assert document.json()["resource"] == egress.resource("erp")
    assert document.json()["authorization_servers"] == [egress.server.url]
    assert http.get("/.well-known/oauth-protected-resource/egress/nope").status_code == 404

    # Tokens for another resource (another API, another connection) are not for this one.
    for resource in (OTHER_API, egress.resource("erp-limited")):
        other = {"Authorization": f"Bearer {egress.token(resource)}"}
        answer = http.get("/egress/erp/invoices/INV-1", headers=other)
        assert answer.status_code == 401, answer.text
        assert "resource_metadata=" in answer.headers["www-authenticate"]
    malformed = http.get("/egress/erp/invoices/INV-1", headers={"Authorization": "Bearer"})
    assert malformed.status_code in (400, 401)
    assert egress.peer.requests == []


def test_an_allowed_call_reaches_the_upstream_with_the_key_only_warden_holds(
    egress: Egress,
) -> None:
    mandate = egress.mandate()
    headers = {
        **egress.headers(mandate),
        "Cookie": "agent_session=s3cr3t",
        "X-Trace": "t-1",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "stops-at-warden",
    }
    answer = egress.http.get(
        "/egress/erp/invoices/INV-1", params={"expand": "lines"}, headers=headers
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": "INV-1", "supplier": "Acme Supplies", "iban": IBAN}
    assert answer.headers["x-invoice-source"] == "erp"  # end-to-end headers come back
    assert "set-cookie" not in answer.headers  # the upstream's session is Warden's
    assert len(answer.headers.get_list("date")) == 1  # Warden's, not a second one
    assert len(answer.headers.get_list("server")) == 1
    assert answer.headers["warden-decision"]
    assert egress.ledger(answer.headers["warden-decision"])["outcome"] == "allow"
    assert API_KEY not in answer.text and API_KEY not in str(answer.headers)

    [received] = egress.peer.requests
    assert (received.method, received.path, received.query) == (
        "GET",
        "/invoices/INV-1",
        "expand=lines",
    )
    assert received.headers["x-api-key"] == API_KEY
    assert received.headers["x-trace"] == "t-1"
    for agent_only in ("authorization", "txn-token", "cookie", "warden-chain", "x-hop"):
        assert agent_only not in received.headers, agent_only

    # The upstream's own refusals come back as they are.
    missing = egress.http.get("/egress/erp/invoices/missing", headers=egress.headers(mandate))
    assert missing.status_code == 404 and missing.json() == {"error": "no such invoice"}


def test_a_denied_call_is_refused_with_its_reason_and_never_forwarded(egress: Egress) -> None:
    mandate = egress.mandate()
    answer = egress.http.post(
        "/egress/erp/contacts/export", json={"format": "csv"}, headers=egress.headers(mandate)
    )
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["error"] == "denied" and "mandate.out_of_scope" in codes(answer)
    assert "crm.contacts.export" in body["message"] and body["decision_id"] in body["message"]
    assert egress.ledger(body["decision_id"])["outcome"] == "deny"
    assert egress.peer.requests == []


def test_a_route_the_connection_does_not_list_is_refused_and_never_forwarded(
    egress: Egress,
) -> None:
    headers = egress.headers(egress.mandate())
    for method, path in (("DELETE", "/invoices/INV-1"), ("GET", "/admin/users")):
        answer = egress.http.request(method, f"/egress/erp{path}", headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "egress.no_route"
        recorded = egress.ledger(answer.json()["decision_id"])
        assert recorded["outcome"] == "deny"
        assert recorded["resource"] == {"type": "tool", "id": "erp.unrouted"}
    # A segment an upstream would normalise into another route is not forwarded either.
    for sneaky in ("/invoices/%2E%2E", "/invoices/a%2Fb"):
        answer = egress.http.get(f"/egress/erp{sneaky}", headers=headers)
        assert answer.status_code == 400, (sneaky, answer.text)
    assert egress.peer.requests == []


def test_the_json_body_and_the_query_are_the_arguments_decided(egress: Egress) -> None:
    mandate = egress.mandate()
    headers = egress.headers(mandate)
    post = egress.http.post

    over_max = post("/egress/erp/payments", json={"amount": 20000, "iban": IBAN}, headers=headers)
    assert over_max.status_code == 403 and "argument.limit" in codes(over_max)
    in_query = post(
        "/egress/erp/payments", params={"amount": "20000"}, json={"iban": IBAN}, headers=headers
    )
    assert in_query.status_code == 403 and "argument.limit" in codes(in_query)
    held = post("/egress/erp/payments", json={"amount": 600, "iban": IBAN}, headers=headers)
    assert held.status_code == 403 and "step_up.amount" in codes(held)  # held, no one approved
    twice = post(
        "/egress/erp/payments", params={"amount": "1"}, json={"amount": 900}, headers=headers
    )
    assert twice.status_code == 400 and "amount" in twice.json()["message"]

    for _ in range(2):  # 800 of the 1000 EUR budget
        paid = post("/egress/erp/payments", json={"amount": 400, "iban": IBAN}, headers=headers)
        assert paid.status_code == 201, paid.text
    over_budget = post("/egress/erp/payments", json={"amount": 400, "iban": IBAN}, headers=headers)
    assert over_budget.status_code == 403 and "budget.exceeded" in codes(over_budget)

    forwarded = [r.body for r in egress.peer.requests]
    assert forwarded == [b'{"amount":400,"iban":"DE89370400440532013000"}'] * 2


def test_a_streamed_answer_reaches_the_agent_while_the_upstream_is_still_sending(
    egress: Egress,
) -> None:
    headers = egress.headers(egress.mandate())
    with egress.http.stream("GET", "/egress/erp/stream", headers=headers, timeout=5) as answer:
        assert answer.status_code == 200
        chunks = answer.iter_raw()
        assert next(chunks) == b"first\n"  # the upstream is waiting for us to go on
        assert not egress.peer.release.is_set()
        egress.peer.release.set()
        assert b"".join(chunks) == b"second\n"


def test_size_limits_and_timeouts_end_a_call_with_the_status_that_says_why(
    egress: Egress,
) -> None:
    headers = egress.headers(egress.mandate(), "erp-limited")
    http = egress.http
    too_big = b'{"amount": 1, "note": "' + b"n" * 2000 + b'"}'
    declared = http.post("/egress/erp-limited/payments", content=too_big, headers=headers)
    assert declared.status_code == 413, declared.text

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while reading
        yield too_big[:1000]
        yield too_big[1000:]

    streamed = http.post("/egress/erp-limited/payments", content=chunked(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert egress.peer.requests == []

    large = http.get("/egress/erp-limited/big", params={"n": 10000}, headers=headers)
    assert large.status_code == 502 and large.json()["error"] == "egress.response_too_large"
    received = 0
    with http.stream("GET", "/egress/erp-limited/big-stream?n=10000", headers=headers) as cut:
        assert cut.status_code == 200
        with pytest.raises(httpx.HTTPError):  # broken off, not passed off as complete
            for chunk in cut.iter_raw():
                received += len(chunk)
    assert received <= LIMITED.max_response_bytes

    late = http.get("/egress/erp-limited/slow", headers=headers)
    egress.peer.release.set()
    assert late.status_code == 504 and late.json()["error"] == "egress.upstream_timeout"


def test_what_came_back_is_observed_and_traced_when_the_agent_uses_it(egress: Egress) -> None:
    # Before anything was read, the IBAN comes from nowhere the mandate knows.
    fresh = egress.mandate()
    paid = egress.http.post(
        "/egress/erp/payments", json={"amount": 100, "iban": IBAN}, headers=egress.headers(fresh)
    )
    assert paid.status_code == 201, paid.text
    provenance = egress.ledger(paid.headers["warden-decision"])["features"]["mandate"]["provenance"]
    assert provenance["iban"] == "unknown"

    # Read through the gateway, then used: it came from the invoice the tool returned.
    mandate = egress.mandate()
    headers = egress.headers(mandate)
    assert egress.http.get("/egress/erp/invoices/INV-7", headers=headers).status_code == 200
    paid = egress.http.post(
        "/egress/erp/payments", json={"amount": 100, "iban": IBAN}, headers=headers
    )
    assert paid.status_code == 201, paid.text
    mandate_block = egress.ledger(paid.headers["warden-decision"])["features"]["mandate"]
    assert mandate_block["provenance"]["iban"] == "tool_output"
    assert "bank_details" in mandate_block["labels_in"]


def test_an_oauth_connection_gets_its_own_token_from_the_upstream_and_reuses_it(
    egress: Egress,
) -> None:
    server, runtime = egress.server, egress.server.runtime
    assert runtime is not None
    connection = Connection(
        name="erp-oauth",
        protocol=Protocol.HTTP,
        url=egress.peer.url,
        auth=AuthKind.CLIENT_CREDENTIALS,
        params={"token_url": f"{egress.peer.url}/token", "client_id": CLIENT_ID, "scope": "erp"},
        routes=ROUTES,
    )
    create = runtime.connections.create(
        connection, CLIENT_SECRET, actor="test", now=datetime.now(UTC)
    )
    server.call(create)
    headers = egress.headers(egress.mandate(), "erp-oauth")
    for number in ("INV-1", "INV-2"):
        answer = egress.http.get(f"/egress/erp-oauth/invoices/{number}", headers=headers)
        assert answer.status_code == 200, answer.text
        assert ACCESS_TOKEN not in str(answer.headers)

    assert [r.headers["authorization"] for r in egress.peer.requests] == [
        f"Bearer {ACCESS_TOKEN}"
    ] * 2
    assert egress.peer.token_requests == [{"grant_type": "client_credentials", "scope": "erp"}]


def test_nothing_is_forwarded_when_warden_cannot_decide(
    egress: Egress, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = egress.headers(egress.mandate())

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("policy store unreachable")

    monkeypatch.setattr(egress.server.runtime, "decide", broken)
    answer = egress.http.get("/egress/erp/invoices/INV-1", headers=headers)
    assert answer.status_code == 403, answer.text
    assert codes(answer) == ["gateway.undecidable"]
    assert egress.peer.requests == []
