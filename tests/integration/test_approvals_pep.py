"""Step-up approvals end to end over a running Warden server: an enforcement point holds a
payment, long-polls its approval while a person approves it through the API, and sends the same
action again, which is allowed once; a replayed or altered approval releases nothing; two
approvers for a purpose that needs two; a timeout and a kill both end a hold in a deny."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from chain_fleet import ADMIN, AGENTS, PERSON, Fleet, codes, fleet

__all__ = ["fleet"]  # the fixture, used by name

REQUEST = "Pay the approved invoices from Acme Supplies"


def person_token(fleet: Fleet, who: str, *roles: str) -> dict[str, str]:
    body = {"person": who, "roles": list(roles)}
    answer = fleet.admin("POST", "/v1/access/tokens", json=body)
    assert answer.status_code in (200, 201), answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def pay(fleet: Fleet, mandate: str, amount: int, approval: str | None = None) -> dict[str, Any]:
    body = {
        "subject": {"type": "agent", "id": AGENTS["root"]},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": "payments.transfer"},
        "context": {"arguments": {"amount": amount, "iban": "DE89370400440532013000"}},
    }
    if approval:
        body["context"]["approval"] = approval
    headers = {**ADMIN, "Txn-Token": mandate}
    answer = fleet.http.post("/access/v1/evaluation", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def vote(fleet: Fleet, approval: str, how: str, who: dict[str, str]) -> httpx.Response:
    return fleet.http.post(
        f"/v1/approvals/{approval}/{how}", json={"comment": "checked the invoice"}, headers=who
    )


PETTY = (
    "name: petty-transfer\ndescription: Move small sums between company accounts.\n"
    "examples: [Move 900 EUR to the petty cash account]\n"
    "tools:\n  - tool: payments.transfer\n"
    'step_up:\n  - tools: ["payments.*"]\n'
)


def test_a_held_payment_is_released_once_after_a_person_approves_it(fleet: Fleet) -> None:
    assert fleet.admin("POST", "/v1/profiles", content=PETTY.encode()).status_code == 201
    mandate = fleet.mandate("Move 900 EUR to petty cash", profile="petty-transfer")
    held = pay(fleet, mandate, 900)
    assert held["decision"] is False and held["context"]["outcome"] == "step_up"
    approval = held["context"]["approval"]["id"]

    # The enforcement point holds the call and long-polls; a person approves meanwhile.
    answers: list[dict[str, Any]] = []
    waiting = threading.Thread(
        target=lambda: answers.append(
            fleet.admin("GET", f"/v1/approvals/{approval}/wait", params={"timeout": 20}).json()
        )
    )
    waiting.start()
    bob = person_token(fleet, "bob@acme.example", "approver")
    assert vote(fleet, approval, "approve", bob).status_code == 200
    waiting.join(25)
    assert answers and answers[0]["status"] == "approved"

    released = pay(fleet, mandate, 900, approval)
    assert released["decision"] is True, released
    assert codes(released)[0] == "approval.granted" and "bob@acme.example" in str(released)
    # Single use: the same approval again releases nothing.
    again = pay(fleet, mandate, 900, approval)
    assert again["decision"] is False and codes(again)[0] == "approval.used"
    # Who approved what is in the ledger.
    entries = fleet.admin("GET", "/v1/audit/entries", params={"limit": 1000}).json()["entries"]
    kinds = [e["event_type"] for e in entries if e["payload"].get("approval") == approval]
    assert "approval:requested" in kinds and "approval:approved" in kinds
    assert "approval:used" in kinds


def test_an_approval_releases_only_the_action_it_was_given_for(fleet: Fleet) -> None:
    mandate = fleet.mandate(REQUEST)
    approval = pay(fleet, mandate, 900)["context"]["approval"]["id"]
    bob = person_token(fleet, "bob@acme.example", "approver")
    assert vote(fleet, approval, "approve", bob).status_code == 200

    altered = pay(fleet, mandate, 990, approval)
    assert altered["decision"] is False and codes(altered)[0] == "approval.mismatch"
    forged = pay(fleet, mandate, 900, "apr_000000000000000000000000")
    assert forged["decision"] is False and codes(forged)[0] == "approval.unknown"
    # The approval was not used up by those attempts: the real action goes through.
    assert pay(fleet, mandate, 900, approval)["decision"] is True


def test_who_may_approve(fleet: Fleet) -> None:
    mandate = fleet.mandate(REQUEST)
    approval = pay(fleet, mandate, 900)["context"]["approval"]["id"]
    own = person_token(fleet, PERSON, "approver")  # the person the payment is for
    assert vote(fleet, approval, "approve", own).status_code == 403
    auditor = person_token(fleet, "eve@acme.example", "auditor")
    assert vote(fleet, approval, "approve", auditor).status_code == 403
    assert vote(fleet, approval, "approve", ADMIN).status_code == 403  # admin is not approver
    # A deny ends it: the action stays refused.
    carol = person_token(fleet, "carol@acme.example", "approver")
    assert vote(fleet, approval, "deny", carol).status_code == 200
    refused = pay(fleet, mandate, 900, approval)
    assert refused["decision"] is False and codes(refused)[0] == "approval.denied"


def test_a_purpose_that_needs_two_approvers(fleet: Fleet) -> None:
    treasury = (
        "name: treasury-transfer\ndescription: Move money between company accounts.\n"
        "examples: [Move 900 EUR to the savings account]\n"
        "tools:\n  - tool: payments.transfer\n"
        'step_up:\n  - tools: ["payments.*"]\n'
        "approvals: {required: 2, separation_of_duties: true}\n"
    )
    answer = fleet.admin("POST", "/v1/profiles", content=treasury.encode())
    assert answer.status_code == 201, answer.text
    mandate = fleet.mandate("Move 900 EUR to the savings account", profile="treasury-transfer")
    held = pay(fleet, mandate, 900)["context"]["approval"]
    assert held["required"] == 2
    bob = person_token(fleet, "bob@acme.example", "approver")
    carol = person_token(fleet, "carol@acme.example", "approver")
    assert vote(fleet, held["id"], "approve", bob).json()["status"] == "pending"
    assert pay(fleet, mandate, 900, held["id"])["decision"] is False  # one of two
    assert vote(fleet, held["id"], "approve", bob).status_code == 409  # one vote each
    assert vote(fleet, held["id"], "approve", carol).json()["status"] == "approved"
    assert pay(fleet, mandate, 900, held["id"])["decision"] is True


def test_a_hold_ends_in_a_deny_on_timeout_or_kill(fleet: Fleet) -> None:
    mandate = fleet.mandate(REQUEST)
    timed_out = pay(fleet, mandate, 900)["context"]["approval"]["id"]
    later = datetime.now(UTC) + timedelta(hours=1)
    runtime = fleet.server.runtime
    assert runtime is not None
    fleet.server.call(runtime.approvals.expire_due(later))  # housekeeping, an hour later
    status = fleet.admin("GET", f"/v1/approvals/{timed_out}/wait", params={"timeout": 1}).json()
    assert status["status"] == "expired"
    expired = pay(fleet, mandate, 900, timed_out)
    assert expired["decision"] is False and codes(expired)[0] == "approval.expired"

    killed = pay(fleet, mandate, 800)["context"]["approval"]["id"]
    body = {"kind": "agent", "target": AGENTS["root"], "reason": "INC-9"}
    result = fleet.admin("POST", "/v1/kill", json=body).json()
    assert any("cancelled 1 held approval" in line for line in result["effects"])
    assert fleet.admin("GET", f"/v1/approvals/{killed}").json()["status"] == "cancelled"
