"""The one decision call every gateway adapter makes (``warden.gateway.core.Gateway``), over a
running Warden with real tokens, chains and approvals: a delegated token must come with the chain
it was minted for; a step-up holds until a person approves (then releases once) or the hold runs
out; anything that breaks on the way is a deny; ``tools/list`` previews only identity and
entitlements, recorded nowhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chain_fleet import AGENTS, Fleet, fleet

from warden.decisions.models import Outcome
from warden.gateway.core import Call, Caller, Gateway, Verdict
from warden.tokens.errors import InvalidToken

__all__ = ["fleet"]  # the fixture, used by name

REQUEST = "Pay the approved invoices from Acme Supplies"


@pytest.fixture
def gateway(fleet: Fleet) -> Iterator[Gateway]:
    runtime = fleet.server.runtime
    assert runtime is not None
    yield runtime.gateway


def caller(fleet: Fleet, token: str) -> Caller:
    """The caller a gateway would see for ``token`` (its verified claims)."""
    return Caller.of(fleet.claims(token))


def decide(fleet: Fleet, gateway: Gateway, call: Call) -> Verdict:
    verdict: Verdict = fleet.server.call(gateway.decide(call))
    return verdict


def codes(verdict: Verdict) -> list[str]:
    return [r.code for r in verdict.reasons]


def ledger_outcome(fleet: Fleet, decision_id: str | None) -> str:
    entries = fleet.admin("GET", "/v1/audit/entries", params={"limit": 1000}).json()["entries"]
    found = [e for e in entries if e["payload"].get("decision_id") == decision_id]
    assert found, f"decision {decision_id} is not in the ledger"
    return str(found[0]["payload"]["outcome"])


def test_an_allowed_call_is_recorded_before_the_verdict_is_returned(
    fleet: Fleet, gateway: Gateway
) -> None:
    mandate = fleet.mandate(REQUEST)
    call = Call(
        caller(fleet, fleet.own_token("root")),
        "payments.transfer",
        {"amount": 120, "iban": "DE89370400440532013000"},
        mandate=mandate,
    )
    verdict = decide(fleet, gateway, call)
    assert verdict.allowed, verdict.explain()
    assert ledger_outcome(fleet, verdict.decision_id) == "allow"


def test_a_delegated_token_must_come_with_the_chain_it_was_minted_for(
    fleet: Fleet, gateway: Gateway
) -> None:
    mandate = fleet.mandate(REQUEST)
    root_token = fleet.own_token("root")
    # root delegates to a1 twice (two branches, the profile allows a fan-out of two).
    first = fleet.hop(root_token, "a1", mandate=mandate, task="Read invoice INV-1")
    second = fleet.hop(root_token, "a1", mandate=mandate, task="Read invoice INV-2")
    a1 = caller(fleet, first.token)
    assert a1.agent == AGENTS["a1"] and a1.hop is not None  # `act.sub`, and `wch`

    # A delegated token alone, as if no chain stood behind it: the hop was skipped.
    skipped = decide(fleet, gateway, Call(a1, "erp.invoice.read", {}))
    assert skipped.outcome is Outcome.DENY and codes(skipped)[0] == "chain.skipped"
    # The first branch's token with the second branch's chain and mandate: both are a1's,
    # but not the hop the token was minted for.
    crossed = Call(a1, "erp.invoice.read", {}, mandate=second.mandate, chain=second.chain)
    replayed = decide(fleet, gateway, crossed)
    assert replayed.outcome is Outcome.DENY and codes(replayed)[0] == "chain.replayed"
    assert ledger_outcome(fleet, replayed.decision_id) == "deny"
    # Its own chain and mandate: allowed.
    own = Call(a1, "erp.invoice.read", {}, mandate=first.mandate, chain=first.chain)
    assert decide(fleet, gateway, own).allowed


def test_a_held_call_is_released_when_a_person_approves_it(
    fleet: Fleet, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    mandate = fleet.mandate(REQUEST)
    root = caller(fleet, fleet.own_token("root"))
    arguments = {"amount": 900, "iban": "DE89370400440532013000"}
    call = Call(root, "payments.transfer", arguments, mandate=mandate)
    bob = _approver(fleet)
    gateway.hold_seconds = 20
    held = _held(fleet, monkeypatch)
    approved: list[int] = []

    def approve_once_held() -> None:  # a person, while the gateway holds the call
        assert held.wait(20)
        answer = fleet.http.post(
            f"/v1/approvals/{held.approval}/approve", json={"comment": "ok"}, headers=bob
        )
        approved.append(answer.status_code)

    person = threading.Thread(target=approve_once_held)
    person.start()
    verdict = decide(fleet, gateway, call)
    person.join(25)
    assert approved == [200]
    assert verdict.allowed, verdict.explain()
    assert codes(verdict)[0] == "approval.granted" and verdict.approval == held.approval


def test_a_hold_that_runs_out_is_refused_with_the_approval_to_ask_for(
    fleet: Fleet, gateway: Gateway
) -> None:
    mandate = fleet.mandate(REQUEST)
    root = caller(fleet, fleet.own_token("root"))
    gateway.hold_seconds = 0.2
    arguments = {"amount": 800, "iban": "DE89370400440532013000"}
    call = Call(root, "payments.transfer", arguments, mandate=mandate)
    verdict = decide(fleet, gateway, call)
    assert verdict.outcome is Outcome.DENY and codes(verdict)[0] == "approval.timeout"
    assert verdict.approval is not None and verdict.approval in verdict.explain()
    assert "not forwarded" in verdict.explain()


def test_a_broken_decision_path_is_a_deny(
    fleet: Fleet, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = fleet.server.runtime
    assert runtime is not None

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("policy store unreachable")

    monkeypatch.setattr(runtime, "decide", broken)
    root = caller(fleet, fleet.own_token("root"))
    verdict = decide(fleet, gateway, Call(root, "erp.invoice.read", {}))
    assert verdict.outcome is Outcome.DENY and codes(verdict) == ["gateway.undecidable"]
    assert "policy store" not in verdict.explain()  # internals stay in the log


def test_listing_previews_identity_and_entitlements_and_records_nothing(
    fleet: Fleet, gateway: Gateway
) -> None:
    root = caller(fleet, fleet.own_token("root"))
    tools = ["erp.invoice.read", "payments.transfer"]
    before = fleet.admin("GET", "/v1/audit/entries", params={"limit": 1000}).json()["entries"]
    assert fleet.server.call(gateway.listable(root, tools)) == set(tools)
    after = fleet.admin("GET", "/v1/audit/entries", params={"limit": 1000}).json()["entries"]
    assert len(after) == len(before)

    body = {"kind": "agent", "target": AGENTS["root"], "reason": "INC-77"}
    assert fleet.admin("POST", "/v1/kill", json=body).status_code in (200, 201)
    assert fleet.server.call(gateway.listable(root, tools)) == set()


def _approver(fleet: Fleet) -> dict[str, str]:
    body = {"person": "bob@acme.example", "roles": ["approver"]}
    answer = fleet.admin("POST", "/v1/access/tokens", json=body)
    assert answer.status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


class _Held(threading.Event):
    approval: str | None = None


def _held(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> _Held:
    """Set once the runtime holds an action for approval (its id in ``approval``)."""
    runtime = fleet.server.runtime
    assert runtime is not None
    hold = runtime.approvals.hold
    event = _Held()

    async def holding(*args: Any, **kwargs: Any) -> Any:
        request = await hold(*args, **kwargs)
        event.approval = request.id
        event.set()
        return request

    monkeypatch.setattr(runtime.approvals, "hold", holding)
    return event


def test_a_remembered_token_is_refused_as_soon_as_it_is_revoked_or_its_agent_suspended(
    fleet: Fleet,
) -> None:
    """Gateways remember verified tokens for a moment (no token-store read per call); a
    revocation or a suspension on this server still takes effect on the very next call."""
    runtime = fleet.server.runtime
    assert runtime is not None

    def verify(token: str) -> Any:
        return fleet.server.call(runtime.verify_access_token(token))

    revoked, suspended = fleet.own_token("a1"), fleet.own_token("a2")
    assert verify(revoked)["sub"] == AGENTS["a1"]
    assert verify(revoked)["sub"] == AGENTS["a1"]  # remembered
    answer = fleet.http.post("/oauth2/revoke", data={"token": revoked}, auth=fleet.secrets["a1"])
    assert answer.status_code == 200
    with pytest.raises(InvalidToken):
        verify(revoked)

    assert verify(suspended)["sub"] == AGENTS["a2"]
    change = {"status": "suspended", "reason": "INC-12"}
    answer = fleet.admin("POST", f"/v1/agents/{AGENTS['a2']}/status", json=change)
    assert answer.status_code == 200, answer.text
    with pytest.raises(InvalidToken):
        verify(suspended)
