"""The kill switch over a running Warden server: a workflow of delegated agents is stopped on its
very next action — by agent, session, chain, mandate or person — through the API and the CLI;
tokens involved introspect inactive and stay revoked after a revival."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from chain_fleet import ADMIN_TOKEN, AGENTS, PERSON, Fleet, build, codes, error_of, fleet
from typer.testing import CliRunner

from warden.cli.main import app

__all__ = ["fleet"]  # the fixture, used by name

MANDATE_REQUEST = "Pay the approved invoices from Acme Supplies"


def kill(fleet: Fleet, kind: str, target: str, reason: str = "incident 4711") -> dict[str, Any]:
    answer = fleet.admin(
        "POST", "/v1/kill", json={"kind": kind, "target": target, "reason": reason}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def revive(fleet: Fleet, kind: str, target: str) -> httpx.Response:
    body = {"kind": kind, "target": target, "reason": "checked with the owner"}
    return fleet.admin("POST", "/v1/revive", json=body)


def active(fleet: Fleet, name: str, token: str) -> bool:
    """RFC 7662 introspection, by the token's own client."""
    answer = fleet.http.post("/oauth2/introspect", data={"token": token}, auth=fleet.secrets[name])
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["active"])


def allowed(fleet: Fleet, name: str, hop: Any) -> bool:
    return bool(fleet.decide(name, "erp.invoice.read", hop)["decision"])


def test_killing_an_agent_stops_it_and_everything_below_it_on_the_next_action(
    fleet: Fleet,
) -> None:
    mandate = fleet.mandate(MANDATE_REQUEST)
    a1, a2, a3 = build(fleet, 3, mandate)
    assert all(allowed(fleet, h.name, h) for h in (a1, a2, a3))  # the workflow runs
    assert active(fleet, "a2", a2.token)

    result = kill(fleet, "agent", AGENTS["a2"], "prompt injection suspected, INC-4711")
    assert any("revoked" in line for line in result["effects"])

    stopped = fleet.decide("a2", "erp.invoice.read", a2)
    assert stopped["decision"] is False and codes(stopped)[0] == "kill.agent"
    assert "prompt injection suspected" in stopped["context"]["reasons"][0]["message"]
    below = fleet.decide("a3", "erp.invoice.read", a3)  # a3 acts through a2
    assert below["decision"] is False and "kill.agent" in codes(below)
    assert allowed(fleet, "a1", a1)  # above it, the workflow goes on
    # Its tokens introspect inactive, and it cannot get or exchange new ones.
    assert not active(fleet, "a2", a2.token)
    assert error_of(fleet.delegate(a2.token, "a4"))
    own = fleet.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "resource": "https://erp.acme.example/api"},
        auth=fleet.secrets["a2"],
    )
    assert own.status_code in (400, 401), own.text

    # Revived: it acts again, but the tokens the kill revoked stay revoked.
    assert revive(fleet, "agent", AGENTS["a2"]).status_code == 200
    assert allowed(fleet, "a2", a2)
    assert not active(fleet, "a2", a2.token)
    assert fleet.own_token("a2")  # a new one is issued
    assert revive(fleet, "agent", AGENTS["a2"]).status_code == 404  # nothing to revive


def test_killing_a_person_stops_everything_done_on_their_behalf(fleet: Fleet) -> None:
    mandate = fleet.mandate(MANDATE_REQUEST)
    hops = build(fleet, 2, mandate)
    other = fleet.mandate(MANDATE_REQUEST)  # a second workflow for the same person
    assert fleet.decide("root", "erp.invoice.read", None, mandate=other)["decision"] is True

    result = kill(fleet, "person", PERSON.upper(), "account takeover reported")
    assert result["kill"]["target"] == PERSON  # emails are compared lower-cased
    assert any("revoked 2 mandates" in line for line in result["effects"])

    for hop in hops:
        denied = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert denied["decision"] is False and "kill.person" in codes(denied)
    root = fleet.decide("root", "erp.invoice.read", None, mandate=other)
    assert root["decision"] is False and "kill.person" in codes(root)
    # Revival lifts the kill, not the revocations: the old mandates stay revoked.
    assert revive(fleet, "person", PERSON).status_code == 200
    after = fleet.decide("root", "erp.invoice.read", None, mandate=other)
    assert after["decision"] is False and "mandate.revoked" in codes(after)
    fresh = fleet.mandate(MANDATE_REQUEST)
    assert fleet.decide("root", "erp.invoice.read", None, mandate=fresh)["decision"] is True


def test_killing_a_chain_from_the_cli_revokes_its_hops_and_delegated_tokens(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    mandate = fleet.mandate(MANDATE_REQUEST)
    a1, a2 = build(fleet, 2, mandate)
    monkeypatch.setenv("WARDEN_URL", fleet.server.url)
    monkeypatch.setenv("WARDEN_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("COLUMNS", "200")
    chain_id = a1.body["chain_id"]

    done = CliRunner().invoke(app, ["kill", "chain", chain_id, "--reason", "runaway workflow"])
    assert done.exit_code == 0, done.output
    assert f"killed chain {chain_id}" in done.output and "revoked 3 hops" in done.output

    for hop in (a1, a2):
        denied = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert denied["decision"] is False and "kill.chain" in codes(denied)
        assert not active(fleet, hop.name, hop.token)
    listed = CliRunner().invoke(app, ["kills"])
    assert (
        listed.exit_code == 0 and chain_id in listed.output and "runaway workflow" in listed.output
    )


def test_killing_a_session_or_a_mandate_stops_only_that(fleet: Fleet) -> None:
    first, second = fleet.mandate(MANDATE_REQUEST), fleet.mandate(MANDATE_REQUEST)
    for mandate in (first, second):
        assert fleet.decide("root", "erp.invoice.read", None, mandate=mandate)["decision"]
    sessions = fleet.admin("GET", "/v1/sessions", params={"agent": AGENTS["root"]}).json()
    mandate_ids = {
        fleet.admin("GET", f"/v1/sessions/{s['id']}").json()["mandate"]: s["id"]
        for s in sessions["sessions"]
    }
    first_id = fleet.mandate_id(first)
    kill(fleet, "session", mandate_ids[first_id])
    held = fleet.decide("root", "erp.invoice.read", None, mandate=first)
    assert held["decision"] is False and "kill.session" in codes(held)
    assert fleet.decide("root", "erp.invoice.read", None, mandate=second)["decision"] is True
    assert revive(fleet, "session", mandate_ids[first_id]).status_code == 200
    assert fleet.decide("root", "erp.invoice.read", None, mandate=first)["decision"] is True

    # A mandate: the delegates below it stop too.
    a1, a2 = build(fleet, 2, second)
    kill(fleet, "mandate", fleet.mandate_id(second))
    for hop in (a1, a2):
        denied = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert denied["decision"] is False and "kill.mandate" in codes(denied)


def test_bad_kills_are_refused_with_what_is_wrong(fleet: Fleet) -> None:
    def post(body: dict[str, Any], auth: bool = True) -> httpx.Response:
        if auth:
            return fleet.admin("POST", "/v1/kill", json=body)
        return fleet.http.post("/v1/kill", json=body)

    good = {"kind": "agent", "target": AGENTS["a1"], "reason": "x"}
    assert post(good, auth=False).status_code == 401
    planet = post({**good, "kind": "planet"})
    assert planet.status_code == 400 and "kind" in planet.text
    bad = post({**good, "target": "not-an-agent"})
    assert bad.status_code == 400 and "spiffe" in bad.text.lower()
    person = post({**good, "kind": "person", "target": "ann"})
    assert person.status_code == 400 and "email" in person.text
    session = post({**good, "kind": "session", "target": "abc"})
    assert session.status_code == 400 and "ses_" in session.text
    assert post({**good, "reason": "   "}).status_code == 400
    assert fleet.admin("GET", "/v1/kills").json() == {"kills": []}  # nothing was killed
