"""Delegation chains over a running Warden server (uvicorn on a loopback port, real SQLite
store): a person's mandate, agents with confidential clients, chains of depth 1-6 built by real
RFC 8693 token exchanges, and actions decided through the AuthZEN API with the chain assertion
in the ``Warden-Chain`` header. Every token is checked against the published JWKS."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from chain_fleet import (
    ADMIN,
    ADMIN_TOKEN,
    AGENTS,
    EXAMPLES,
    NAMES,
    PERMIT_ALL,
    PERSON,
    Fleet,
    Hop,
    act_chain,
    build,
    codes,
    error_of,
    fleet,
)
from joserfc import jwt
from joserfc.jwk import ECKey

__all__ = ["fleet"]  # the fixture, used by name


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_a_chain_of_each_depth_verifies_and_mirrors_the_act_claim(fleet: Fleet, depth: int) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    hops = build(fleet, depth, mandate)
    leaf = hops[-1]

    claims = fleet.claims(leaf.token)
    # RFC 8693 §4.1: the current actor outermost, the root agent as `sub`: the chain's agents.
    assert [claims["sub"], *reversed(act_chain(claims))] == [AGENTS[n] for n in NAMES[: depth + 1]]
    assert claims["chain_depth"] == depth == leaf.body["chain_depth"]
    assert claims["wch"] == leaf.body["hop_id"]

    result = fleet.decide(NAMES[depth], "erp.invoice.read", leaf, invoice="INV-2041")
    assert result["decision"] is True, result

    # The ledger names who the action was for, through which agents.
    entry = entry_of(fleet, result["context"]["decision_id"])
    chain = entry["payload"]["features"]["chain"]
    assert entry["payload"]["on_behalf_of"] == PERSON
    assert chain["depth"] == depth and chain["person"] == PERSON
    assert chain["agents"] == [AGENTS[n] for n in NAMES[: depth + 1]]
    assert len(chain["path"]) == depth + 1


def entry_of(fleet: Fleet, decision_id: str) -> dict[str, Any]:
    answer = fleet.admin("GET", "/v1/audit/entries", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    entries = body["entries"] if isinstance(body, dict) else body
    [entry] = [e for e in entries if e["entry_id"] == decision_id]
    return dict(entry)


def test_a_forged_assertion_is_denied(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    _, a2 = build(fleet, 2, mandate)
    header, payload, signature = a2.chain.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    # Altered: a2 gives itself every tool back; the signature no longer matches.
    claims["hops"][2]["tools"] = None
    altered = _b64(json.dumps(claims).encode())
    result = fleet.decide("a2", "erp.invoice.read", _with(a2, f"{header}.{altered}.{signature}"))
    assert result["decision"] is False and "chain.forged" in codes(result)

    # Re-signed with a key Warden never issued.
    key = ECKey.generate_key("P-256", private=True)
    forged = jwt.encode({"alg": "ES256", "typ": "wch+jwt", "kid": "x"}, claims, key)
    result = fleet.decide("a2", "erp.invoice.read", _with(a2, forged))
    assert result["decision"] is False and "chain.forged" in codes(result)

    # The genuine one still works.
    assert fleet.decide("a2", "erp.invoice.read", a2)["decision"] is True


def test_skipped_and_replayed_hops_are_denied(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2, a3 = build(fleet, 3, mandate)

    # a3 presents a1's assertion (a hop above it), with a1's mandate: not its own.
    replayed = fleet.decide("a3", "erp.invoice.read", a1)
    assert replayed["decision"] is False and "chain.replayed" in codes(replayed)
    # a3 skips the chain and shows the person's mandate as if the person had asked it.
    skipped = fleet.decide("a3", "erp.invoice.read", None, mandate=mandate)
    assert skipped["decision"] is False and "chain.skipped" in codes(skipped)
    # ...or its own mandate without the chain it came with.
    bare = fleet.decide("a3", "erp.invoice.read", None, mandate=a3.mandate)
    assert bare["decision"] is False and "chain.skipped" in codes(bare)
    # its chain with another hop's mandate.
    mixed = fleet.decide("a3", "erp.invoice.read", _with(a3, a3.chain, mandate=a2.mandate))
    assert mixed["decision"] is False and "chain.mandate_mismatch" in codes(mixed)
    # The root agent itself may still act on the person's mandate directly.
    assert fleet.decide("root", "erp.invoice.read", None, mandate=mandate)["decision"] is True


def test_a_revoked_branch_is_denied_below_the_revoked_hop_only(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2, a3 = build(fleet, 3, mandate)
    path = f"/v1/chains/{a2.body['hop_id']}/revoke"
    assert fleet.http.post(path, json={"reason": "compromised"}).status_code == 401
    answer = fleet.admin("POST", path, json={"reason": "compromised"})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["revoked"]) == {a2.body["hop_id"], a3.body["hop_id"]}
    missing = fleet.admin("POST", "/v1/chains/hop_nope/revoke", json={"reason": "x"})
    assert missing.status_code == 404
    for hop in (a2, a3):
        result = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert result["decision"] is False and "chain.revoked" in codes(result)
    assert fleet.decide("a1", "erp.invoice.read", a1)["decision"] is True
    # ...and nobody can delegate further from the revoked branch.
    assert error_of(fleet.delegate(a3.token, "a4")).startswith("chain.revoked")
    # The whole chain, from a terminal.
    from typer.testing import CliRunner

    from warden.cli.main import app

    environment = {"WARDEN_URL": fleet.server.url, "WARDEN_ADMIN_TOKEN": ADMIN_TOKEN}
    done = CliRunner().invoke(
        app, ["chains", "revoke", a1.body["chain_id"], "--reason", "incident 4711"], env=environment
    )
    assert done.exit_code == 0, done.output
    assert "revoked 2 hops" in done.output  # hop 0 and hop 1; the rest already were
    assert fleet.decide("a1", "erp.invoice.read", a1)["decision"] is False


def test_widening_is_refused_at_each_level(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    limits = json.dumps({"payments.transfer": {"amount": 500}})
    [a1] = build(fleet, 1, mandate, tools="erp.invoice.read payments.transfer", limits=limits)
    # Level 2: a tool a1 was not given; a higher cap; both refused, naming the hop.
    wider = error_of(fleet.delegate(a1.token, "a2", tools="erp.invoice.read email.send"))
    assert wider.startswith("chain.widening") and "email.send" in wider and "hop 2" in wider
    higher = json.dumps({"payments.transfer": {"amount": 900}})
    raised = error_of(fleet.delegate(a1.token, "a2", limits=higher))
    assert raised.startswith("chain.widening") and "500" in raised
    # A narrower level 2 is fine; level 3 cannot widen it back either.
    a2 = fleet.hop(
        a1.token, "a2", tools="payments.transfer", limits='{"payments.transfer": {"amount": 200}}'
    )
    back = error_of(fleet.delegate(a2.token, "a3", tools="erp.invoice.read"))
    assert back.startswith("chain.widening")
    # At action time the narrowest cap and allow-list hold.
    over = fleet.decide("a2", "payments.transfer", a2, amount=300)
    assert over["decision"] is False and "chain.limit" in codes(over)
    assert fleet.decide("a2", "payments.transfer", a2, amount=150)["decision"] is True
    read = fleet.decide("a2", "erp.invoice.read", a2)
    assert read["decision"] is False and "chain.tool_not_delegated" in codes(read)
    # Expiry only narrows: asking for a day gets no more than the delegator has.
    long = fleet.hop(a1.token, "a3", expires_in="86400")
    assert fleet.claims(long.token)["exp"] <= fleet.claims(a1.token)["exp"]


def test_a_budget_is_shared_across_three_hops(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2, a3 = build(fleet, 3, mandate)
    for hop, amount in ((a1, 400), (a2, 400)):
        assert fleet.decide(hop.name, "payments.transfer", hop, amount=amount)["decision"] is True
    # 800 of the 1,000 budget is spent by two hops; the third hop gets the rest, not a new 1,000.
    over = fleet.decide("a3", "payments.transfer", a3, amount=300)
    assert over["decision"] is False and "budget.exceeded" in codes(over)
    assert fleet.decide("a3", "payments.transfer", a3, amount=200)["decision"] is True


def test_cycles_depth_and_fan_out_are_refused(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2 = build(fleet, 2, mandate)
    cycle = error_of(fleet.delegate(a2.token, "a1"))
    assert "cycle" in cycle  # RFC 8693's act check or the chain's, both refuse A → B → A
    # Fan-out: the profile lets one hop delegate twice.
    fleet.hop(a1.token, "a3")
    fanned = error_of(fleet.delegate(a1.token, "a4"))
    assert fanned.startswith("chain.fan_out")
    # Another agent cannot start a second chain from the same mandate.
    held = error_of(fleet.delegate(fleet.own_token("a5"), "a6", mandate=mandate))
    assert held.startswith("chain.mandate_held")


def test_intent_laundering_is_caught_at_the_hop_where_it_happens(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    _, a2 = build(fleet, 2, mandate)
    # At delegation: a tool outside the person's purpose, though a2 could hold it.
    refused = error_of(fleet.delegate(a2.token, "a3", tools="crm.contacts.export"))
    assert refused.startswith("chain.laundering")
    assert "supplier-payments" in refused and "hop 3" in refused
    # ...or a task that reads as another purpose than the person's, in the delegator's words.
    task = "Update the phone number and email of the Globex contact in the CRM"
    reworded = error_of(fleet.delegate(a2.token, "a3", task=task))
    assert reworded.startswith("chain.laundering") and "crm-update" in reworded
    assert "Pay the approved invoices" in reworded and "hop 3" in reworded
    # A task within the purpose is fine.
    fleet.hop(a2.token, "a3", task="Pay invoice INV-2041 from Acme Supplies")
    # At action time: a2 was handed no allow-list; it reaches outside the purpose anyway.
    result = fleet.decide("a2", "crm.contacts.export", a2)
    assert result["decision"] is False
    [reason] = [r for r in result["context"]["reasons"] if r["code"] == "chain.laundering"]
    assert "supplier-payments" in reason["message"]
    assert "Pay the approved invoices from Acme Supplies" in reason["message"]
    assert "hop" in reason["message"] and AGENTS["a2"] in reason["message"]


def _with(hop: Hop, chain: str, mandate: str | None = None) -> Hop:
    return Hop(hop.name, hop.token, chain, mandate or hop.mandate, hop.body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_accountability_back_to_the_person(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _now()
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2, a3 = build(fleet, 3, mandate)
    assert fleet.decide("a1", "erp.invoice.read", a1, invoice="INV-2041")["decision"] is True
    sent = fleet.decide("a2", "email.send", a2, to="ap@partner.example")
    assert sent["decision"] is True
    exported = fleet.decide("a3", "crm.contacts.export", a3)
    assert exported["decision"] is False
    decision_id = exported["context"]["decision_id"]

    # Which person, through which agents, caused this action — with each hop's decision.
    trace = fleet.admin("GET", f"/v1/decisions/{decision_id}/trace").json()
    assert trace["person"] == PERSON and trace["depth"] == 3
    assert [(h["from"], h["to"]) for h in trace["hops"]] == [
        (PERSON, AGENTS["root"]),
        (AGENTS["root"], AGENTS["a1"]),
        (AGENTS["a1"], AGENTS["a2"]),
        (AGENTS["a2"], AGENTS["a3"]),
    ]
    assert all(h["delegation"] for h in trace["hops"][1:])
    assert trace["action"]["outcome"] == "deny"
    assert "chain.laundering" in [r["code"] for r in trace["action"]["reasons"]]

    # The same, as an incident responder reads it at a terminal.
    from typer.testing import CliRunner

    from warden.cli.main import app

    monkeypatch.setenv("WARDEN_URL", fleet.server.url)
    monkeypatch.setenv("WARDEN_ADMIN_TOKEN", ADMIN_TOKEN)
    shown = CliRunner().invoke(app, ["trace", decision_id])
    assert shown.exit_code == 0, shown.output
    for words in (PERSON, "a1", "a3", "crm.contacts.export", "chain.laundering"):
        assert words in shown.output

    # The chain as a tree, and everything it touched.
    chain_id = a3.body["chain_id"]
    tree = fleet.admin("GET", f"/v1/chains/{chain_id}")
    assert tree.status_code == 200 and AGENTS["a3"] in tree.text
    blast = fleet.admin("GET", f"/v1/chains/{chain_id}/blast-radius").json()
    assert {r["tool"] for r in blast["resources"]} == {"erp.invoice.read", "email.send"}
    assert blast["destinations"] == ["partner.example"]
    assert blast["denied"]["by_tool"] == {"crm.contacts.export": 1}

    # What agents did on behalf of the person between two times.
    window = {"from": before.isoformat(), "to": _now().isoformat()}
    person = fleet.admin("GET", f"/v1/people/{PERSON}/actions", params=window)
    assert person.status_code == 200, person.text
    text = person.text
    assert sent["context"]["decision_id"] in text and decision_id in text
    earlier = {"from": "2020-01-01T00:00:00+00:00", "to": before.isoformat()}
    assert (
        decision_id not in fleet.admin("GET", f"/v1/people/{PERSON}/actions", params=earlier).text
    )


def test_revoking_the_persons_mandate_stops_every_delegate(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    hops = build(fleet, 3, mandate)
    assert all(fleet.decide(h.name, "erp.invoice.read", h)["decision"] for h in hops)
    mandate_id = fleet.claims(hops[0].mandate)["tctx"]["chain"]["root"]
    answer = fleet.admin("DELETE", f"/v1/mandates/{mandate_id}", params={"reason": "changed mind"})
    assert answer.status_code == 200, answer.text
    for hop in hops:
        result = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert result["decision"] is False and "mandate.revoked" in codes(result)
        assert mandate_id in json.dumps(result["context"]["reasons"])


def test_the_shipped_chain_policies_weigh_depth_verified_by_warden(fleet: Fleet) -> None:
    shipped = (EXAMPLES / "chains" / "chains.cedar").read_text()
    bundle = {"policies": {"all.cedar": PERMIT_ALL, "chains.cedar": shipped}}
    assert fleet.admin("POST", "/v1/policies", json=bundle).status_code == 201
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2 = build(fleet, 2, mandate)

    assert fleet.decide("a1", "email.send", a1, to="ap@acme.example")["decision"] is True
    held = fleet.decide("a2", "email.send", a2, to="ap@acme.example")
    assert held["context"]["outcome"] == "step_up" and "chain.deep_external" in codes(held)
    # A client claiming a shallower chain changes nothing: Warden reads the depth it verified.
    body = {
        "subject": {"type": "agent", "id": AGENTS["a2"]},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": "email.send"},
        "context": {"chain": a2.chain, "mandate": a2.mandate, "chain_depth": 0},
    }
    claimed = fleet.http.post("/access/v1/evaluation", json=body, headers=ADMIN).json()
    assert claimed["context"]["outcome"] == "step_up"


def test_a_delegate_cannot_use_an_entitlement_its_delegators_lack(fleet: Fleet) -> None:
    # Policies permit by grant only: the root agent and a1 may read invoices; a2 also holds a
    # grant to pay, which nobody above it in this chain holds.
    bundle = {
        "policies": {
            "none.cedar": '@id("nothing") forbid (principal, action, resource) when { false };\n'
        }
    }
    assert fleet.admin("POST", "/v1/policies", json=bundle).status_code == 201
    grants = [(n, "erp.invoice.read") for n in ("root", "a1", "a2")] + [("a2", "payments.transfer")]
    for name, tool in grants:
        grant = {
            "action": "invoke",
            "resource_type": "tool",
            "resource_id": tool,
            "justification": "chain test",
        }
        answer = fleet.admin("POST", f"/v1/agents/{AGENTS[name]}/entitlements", json=grant)
        assert answer.status_code == 201, answer.text
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    _, a2 = build(fleet, 2, mandate)

    assert fleet.decide("a2", "erp.invoice.read", a2)["decision"] is True
    paid = fleet.decide("a2", "payments.transfer", a2, amount=100)
    assert paid["decision"] is False
    [reason] = [r for r in paid["context"]["reasons"] if r["code"] == "chain.widening"]
    assert AGENTS["root"] in reason["message"] and "delegate cannot do more" in reason["message"]


def test_a_mandate_given_to_one_agent_is_only_that_agents(fleet: Fleet) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies", agent=AGENTS["root"])
    taken = fleet.decide("a5", "erp.invoice.read", None, mandate=mandate)
    assert taken["decision"] is False and "mandate.wrong_agent" in codes(taken)
    started = error_of(fleet.delegate(fleet.own_token("a5"), "a6", mandate=mandate))
    assert started.startswith("chain.mandate_held") and AGENTS["root"] in started
    # Its own agent acts on it and delegates under it.
    assert fleet.decide("root", "erp.invoice.read", None, mandate=mandate)["decision"] is True
    [a1] = build(fleet, 1, mandate)
    assert fleet.decide("a1", "erp.invoice.read", a1)["decision"] is True
