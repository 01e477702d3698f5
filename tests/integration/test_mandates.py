"""Issue 5: issuing mandates as Transaction Tokens, and every way a presented mandate can be
unusable — over the real admin API, AuthZEN and the decision pipeline, on both stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from warden.decisions.models import Action, DecisionRequest, Entity
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.runtime import Runtime
from warden.server.app import create_app
from warden.tokens import rfc9068
from warden.tokens.settings import TokenSettings

ADMIN = "mandates-admin-token-0123456789"
ISSUER = "http://warden.test"
AGENT = "spiffe://acme.example/agent/ap-clerk"
PERMIT_ALL = Bundle({"all.cedar": "permit(principal, action, resource);"}, default_schema())


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def call(
        self, method: str, path: str, token: str = ADMIN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def issue(self, request: str = "Reconcile last month's vendor invoices") -> str:
        body = {"person": "ann@acme.example", "request": request}
        response = await self.call("POST", "/v1/mandates", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    async def decide(
        self, tool: str, mandate: str | None = None, header: str | None = None
    ) -> dict[str, Any]:
        context: dict[str, Any] = {} if mandate is None else {"mandate": mandate}
        body = {
            "subject": {"type": "agent", "id": AGENT},
            "action": {"name": "invoke"},
            "resource": {"type": "tool", "id": tool},
            "context": context,
        }
        headers = {"Txn-Token": header} if header else {}
        response = await self.http.post("/access/v1/evaluation", json=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
async def warden(database_url: str) -> AsyncIterator[Warden]:
    settings = TokenSettings(issuer=ISSUER, trust_domain="acme.example")
    runtime = await Runtime.open(database_url, token_settings=settings)
    await runtime.apply_policies(PERMIT_ALL, author="test")
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            w = Warden(runtime, http)
            agent = {"id": AGENT, "display_name": "AP", "owner": "ann@acme.example", "team": "ap"}
            assert (await w.call("POST", "/v1/agents", json=agent)).status_code == 201
            for name, read_only in (("erp.invoice.read", True), ("payments.transfer", False)):
                tool = {"name": name, "annotations": {"read_only": read_only}}
                assert (await w.call("POST", "/v1/tools", json=tool)).status_code == 201
            yield w
    finally:
        await runtime.close()


def request(tool: str, context: dict[str, Any]) -> DecisionRequest:
    return DecisionRequest(Entity("agent", AGENT), Action("invoke"), Entity("tool", tool), context)


def codes(result: dict[str, Any]) -> list[str]:
    return [r["code"] for r in result["context"]["reasons"]]


async def test_a_mandate_is_a_transaction_token_anyone_can_verify_with_the_jwks(
    warden: Warden,
) -> None:
    token = await warden.issue("Pay invoice INV-2291 of 9,000 EUR")
    jwks = (await warden.http.get("/.well-known/jwks.json")).json()
    verified = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    header, claims = verified.header, verified.claims
    assert header["typ"] == "txntoken+jwt"
    assert claims["sub"] == "ann@acme.example" and claims["aud"] == "acme.example"
    assert claims["iss"] == ISSUER and claims["req_wl"] == "admin"
    # Matched to the packaged library's profile; the person's values are designated.
    assert claims["scope"] == "mandate:invoice-payment"
    assert claims["tctx"]["purpose"] == "invoice-payment"
    named = {(d["kind"], d["normalized"]) for d in claims["tctx"]["designated"]}
    assert ("amount", "9000") in named
    mandate = (await warden.call("GET", f"/v1/mandates/{claims['txn']}")).json()
    assert mandate["person"] == "ann@acme.example" and mandate["matched"] is True
    [issued] = [
        e for e in await warden.runtime.ledger_store.tail(50) if e.event_type == "mandate:issued"
    ]
    assert issued.payload["mandate_id"] == claims["txn"]
    assert "INV-2291" not in issued.payload_json  # the request's words stay out of the ledger


async def test_a_person_issues_only_for_themselves(warden: Warden) -> None:
    ann = (
        await warden.call(
            "POST", "/v1/access/tokens", json={"person": "ann@acme.example", "roles": ["owner"]}
        )
    ).json()["token"]
    own = {"person": "ann@acme.example", "request": "reconcile invoices"}
    assert (await warden.call("POST", "/v1/mandates", ann, json=own)).status_code == 201
    other = {"person": "bo@acme.example", "request": "pay me"}
    refused = await warden.call("POST", "/v1/mandates", ann, json=other)
    assert refused.status_code == 403 and "only act for themselves" in refused.json()["message"]
    bad = await warden.call("POST", "/v1/mandates", json={"person": "x", "request": ""})
    assert bad.status_code == 400


async def test_an_unmatched_mandate_lets_reads_through_and_holds_writes(warden: Warden) -> None:
    token = await warden.issue("tell me something nice")
    read = await warden.decide("erp.invoice.read", token)
    assert read["decision"] is True
    judged = await warden.runtime.decide(request("erp.invoice.read", {"mandate": token}))
    block = judged.features["mandate"]
    assert (block["valid"], block["matched"], block["profile"]) == (True, False, "")
    pay = await warden.decide("payments.transfer", token)
    assert pay["decision"] is False and pay["context"]["outcome"] == "step_up"
    assert codes(pay)[0] == "mandate.unmatched"  # then the policy that permitted it
    assert "a person must approve" in pay["context"]["reasons"][0]["message"]


async def test_the_txn_token_header_carries_the_mandate(warden: Warden) -> None:
    token = await warden.issue("tell me something nice")
    held = await warden.decide("payments.transfer", header=token)
    assert codes(held)[0] == "mandate.unmatched"
    absent = await warden.runtime.decide(request("payments.transfer", {}))
    assert absent.features["mandate"]["present"] is False


async def test_every_unusable_mandate_is_a_named_deny(warden: Warden) -> None:
    good = await warden.issue()
    keys = warden.runtime.tokens.keys
    claims = json.loads(jws.extract_compact(good.encode()).payload)
    outsider = ECKey.generate_key("P-256")
    header = {"alg": "ES256", "typ": "txntoken+jwt", "kid": keys.current().kid}
    forged = jws.serialize_compact(header, json.dumps(claims), outsider, algorithms=["ES256"])
    foreign = rfc9068.sign("txntoken+jwt", {**claims, "aud": "evil.example"}, keys)
    unknown = rfc9068.sign("txntoken+jwt", {**claims, "txn": "f" * 32}, keys)
    access_typ = rfc9068.sign("at+jwt", claims, keys)
    past = {**claims, "exp": int((datetime.now(UTC) - timedelta(minutes=1)).timestamp())}
    expired = rfc9068.sign("txntoken+jwt", past, keys)
    cases = {
        "mandate.forged": forged,
        "mandate.foreign": foreign,
        "mandate.unknown": unknown,
        "mandate.malformed": access_typ,
        "mandate.expired": expired,
    }
    for code, token in cases.items():
        result = await warden.decide("erp.invoice.read", token)
        assert result["decision"] is False, code
        assert codes(result) == [code], (code, result["context"]["reasons"])
    garbage = await warden.decide("erp.invoice.read", "not-a-token")
    assert codes(garbage) == ["mandate.malformed"]

    await warden.call("DELETE", f"/v1/mandates/{claims['txn']}", params={"reason": "left"})
    revoked = await warden.decide("erp.invoice.read", good)
    assert codes(revoked) == ["mandate.revoked"]


async def test_mandates_survive_a_restart(database_url: str) -> None:
    settings = TokenSettings(issuer=ISSUER, trust_domain="acme.example")
    first = await Runtime.open(database_url, token_settings=settings)
    from warden.mandates.specs import MandateSpec

    try:
        spec = MandateSpec(person="ann@acme.example", request="reconcile invoices")
        issued = await first.mandates.issue(spec, caller="test", now=datetime.now(UTC))
    finally:
        await first.close()
    second = await Runtime.open(database_url, token_settings=settings)
    try:
        again = second.mandates.verify(issued.token, datetime.now(UTC))
        assert again.id == issued.mandate.id and again.request == "reconcile invoices"
    finally:
        await second.close()


async def test_concurrent_spends_cannot_overrun_a_budget_and_survive_a_restart(
    database_url: str,
) -> None:
    from warden.mandates.models import BudgetCharge
    from warden.mandates.specs import MandateSpec

    settings = TokenSettings(issuer=ISSUER, trust_domain="acme.example")
    runtime = await Runtime.open(database_url, token_settings=settings)
    now = datetime.now(UTC)
    try:
        spec = MandateSpec(person="ann@acme.example", request="pay three invoices")
        issued = await runtime.mandates.issue(spec, caller="test", now=now)
        transfer = [BudgetCharge("payments", 9000.0, 10000.0)]
        outcomes = await asyncio.gather(
            *(runtime.mandates.charge(issued.mandate.id, transfer, now) for _ in range(3))
        )
        refused = [o for o in outcomes if o is not None]
        assert len(refused) == 2 and all(o.rule == "budget.exceeded" for o in refused)
        assert "18000 of 10000" in refused[0].message
    finally:
        await runtime.close()
    again = await Runtime.open(database_url, token_settings=settings)
    try:
        assert again.mandates.spent(issued.mandate.id) == {"payments": 9000.0}
        small = [BudgetCharge("payments", 1000.0, 10000.0)]
        assert await again.mandates.charge(issued.mandate.id, small, now) is None
        over = [BudgetCharge("payments", 0.01, 10000.0)]
        assert await again.mandates.charge(issued.mandate.id, over, now) is not None
    finally:
        await again.close()


async def test_a_mandate_dropped_from_memory_is_read_back_before_its_next_decision(
    sqlite_url: str,
) -> None:
    from warden.mandates.provenance import ProvenanceIndex
    from warden.mandates.specs import MandateSpec

    runtime = await Runtime.open(sqlite_url, token_settings=TokenSettings(issuer=ISSUER))
    now = datetime.now(UTC)
    try:
        index = ProvenanceIndex(runtime.engine, max_mandates=1)  # room for one mandate only
        await index.load(now)
        runtime.mandates.provenance = index
        first, second = [
            await runtime.mandates.issue(
                MandateSpec(person="ann@acme.example", request=words), caller="t", now=now
            )
            for words in ("reconcile vendor invoices", "triage the payments incident")
        ]
        iban = "DE89370400440532013000"
        vendor = {"vendor": "Globex", "iban": iban}
        await runtime.mandates.observe(
            first.token, agent=AGENT, tool="erp.vendor.read", result=vendor, now=now
        )
        await runtime.mandates.observe(  # pushes the first mandate out of memory
            second.token, agent=AGENT, tool="itsm.ticket.read", result={"id": "INC-1"}, now=now
        )
        context = {"mandate": first.token, "arguments": {"iban": iban}}
        decided = await runtime.decide(request("payments.transfer", context))
        block = decided.features["mandate"]
        assert block["provenance"] == {"iban": "tool_output"}
        assert "bank_details" in block["labels_in"]
    finally:
        await runtime.close()
