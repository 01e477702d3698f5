"""Issue 6 end to end: the shipped session and drift policies over the real runtime, admin API
and ledger — a sequence judged as a sequence, drift stepped up with its reasons, an extreme
drift suspending the session with an alert to a real webhook receiver, and a person resuming
it. Simulated days go through ``Runtime.decide(now=...)``; everything else is real."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from warden.audit.models import EventType
from warden.decisions.models import Action, Decision, DecisionRequest, Entity, Outcome
from warden.policy.bundle import default_schema, load_bundles
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime
from warden.server.app import create_app

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import WebhookReceiver

ADMIN = "behaviour-admin-token-0123456789"
CLERK = "spiffe://acme.example/agent/ap-clerk"
EXAMPLES = Path(__file__).parents[2] / "examples"
PERMIT_ALL = '@id("all") permit (principal, action, resource);\n'
MONDAY = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday, 09:00 UTC
ROUTINE = ("erp.invoice.read", "erp.invoice.match", "erp.entry.post")
TOOLS: dict[str, dict[str, Any]] = {
    "erp.invoice.read": {"read_only": True, "destructive": False, "external": False},
    "erp.invoice.match": {"read_only": True, "destructive": False, "external": False},
    "erp.entry.post": {"read_only": False, "destructive": False, "external": False},
    "vault.secret.read": {
        "read_only": True,
        "destructive": False,
        "external": False,
        "labels": ["secret"],
    },
    "email.send": {"read_only": False, "destructive": False, "external": True},
    "erp.table.export": {"read_only": True, "destructive": False, "external": False},
}


@dataclass
class Warden:
    runtime: Runtime
    http: httpx.AsyncClient

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def decide(
        self, tool: str, at: datetime, agent: str = CLERK, **arguments: Any
    ) -> Decision:
        request = DecisionRequest(
            Entity("agent", agent), Action("invoke"), Entity("tool", tool), {"arguments": arguments}
        )
        return await self.runtime.decide(request, now=at)

    async def routine_days(self, days: int) -> datetime:
        """``days`` working days of the clerk's routine: read, match, post an invoice, every
        six minutes from 09:00 to 17:00; returns the time after the last action."""
        at = MONDAY
        for day in range(days):
            at = MONDAY + timedelta(days=day)
            for n in range(80):
                tool = ROUTINE[n % 3]
                decision = await self.decide(tool, at, invoice=f"INV-{day}-{n}", amount=100 + n)
                assert decision.outcome is Outcome.ALLOW, decision.reasons
                at += timedelta(minutes=6)
        return at


@pytest.fixture
async def warden(
    database_url: str, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Warden]:
    monkeypatch.setenv("WARDEN_ALERT_WEBHOOKS", webhook_receiver.url)
    runtime = await Runtime.open(database_url)
    shipped = load_bundles([EXAMPLES / "sessions", EXAMPLES / "drift"])
    bundle = Bundle({**shipped.policies, "all.cedar": PERMIT_ALL}, default_schema())
    await runtime.apply_policies(bundle, author="test")
    transport = httpx.ASGITransport(app=create_app(runtime, admin_token=ADMIN))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as http:
            w = Warden(runtime, http)
            agent = {"id": CLERK, "display_name": "AP", "owner": "ann@acme.example", "team": "ap"}
            assert (await w.call("POST", "/v1/agents", json=agent)).status_code == 201
            for name, annotations in TOOLS.items():
                tool = {"name": name, "annotations": annotations}
                assert (await w.call("POST", "/v1/tools", json=tool)).status_code == 201
            yield w
    finally:
        await runtime.close()


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


async def test_an_external_send_after_reading_a_secret_is_denied_in_that_session_only(
    warden: Warden,
) -> None:
    at = MONDAY
    assert (await warden.decide("email.send", at, to="ops@acme.example")).allowed
    assert (await warden.decide("vault.secret.read", at + timedelta(seconds=5))).allowed

    sent = await warden.decide("email.send", at + timedelta(seconds=9), to="x@elsewhere.example")

    assert sent.outcome is Outcome.DENY and "session.exfiltration" in codes(sent)
    assert "secret" in sent.features["session"]["labels_seen"]
    # The session shows the sequence to an incident responder (never argument values).
    sessions = (await warden.call("GET", "/v1/sessions", params={"agent": CLERK})).json()
    [summary] = sessions["sessions"]
    shown = (await warden.call("GET", f"/v1/sessions/{summary['id']}")).json()
    recent = [(a["tool"], a["outcome"]) for a in shown["recent"]]
    assert recent == [
        ("email.send", "allow"),
        ("vault.secret.read", "allow"),
        ("email.send", "deny"),
    ]
    assert "x@elsewhere.example" not in json.dumps(shown)  # no argument values
    # The ledger keeps what the policy read (labels seen), not the session's growing sets.
    [entry] = [e for e in await ledger(warden) if e["entry_id"] == sent.decision_id]
    recorded = entry["payload"]["features"]["session"]
    assert recorded["labels_seen"] == ["secret"] and "destinations" not in recorded
    assert entry["payload"]["features"]["mandate"] == {"present": False}


async def test_drift_steps_up_with_its_reasons_and_extreme_drift_suspends_the_session(
    warden: Warden, webhook_receiver: WebhookReceiver
) -> None:
    at = await warden.routine_days(4)  # 320 routine actions over four days: a warm baseline

    # A tool this clerk never used, at a normal hour: held for a person, and told why.
    first = await warden.decide("erp.table.export", at + timedelta(minutes=1), table="vendors")
    assert first.outcome is Outcome.STEP_UP and "drift.high" in codes(first)
    [reason] = [r for r in first.reasons if r.code == "drift.high"]
    assert "first use of `erp.table.export`" in reason.message
    assert "novel_tool" in first.features["drift"]["signals"]
    # A held action is not learned: the same export is still novel.
    again = await warden.decide("erp.table.export", at + timedelta(minutes=2), table="vendors")
    assert "novel_tool" in again.features["drift"]["signals"]

    # Sunday 03:00, an upload to a domain this clerk never contacted, by a tool it never used.
    sunday = MONDAY + timedelta(days=6, hours=-6)
    extreme = await warden.decide("files.upload", sunday, url="https://drop.evil.example/x")
    assert extreme.outcome is Outcome.DENY and "drift.extreme" in codes(extreme)
    drift = extreme.features["drift"]
    assert drift["score"] >= 90 or drift["sustained"]
    assert {"novel_tool", "new_destination", "unusual_hour"} <= set(drift["signals"])

    # The session is suspended: the clerk's next routine action is denied, naming why.
    after = await warden.decide("erp.invoice.read", sunday + timedelta(seconds=10))
    assert after.outcome is Outcome.DENY and "session.suspended" in codes(after)
    [held] = [r for r in after.reasons if r.code == "session.suspended"]
    assert "drift.extreme" in held.message and "warden" in held.message

    # Audited, and a webhook alert went out naming the session and the signals.
    events = [e for e in await ledger(warden) if e["event_type"] == EventType.DRIFT_ALERT.value]
    [alert_event] = events
    await warden.runtime.alerts.drained()
    # (The step-ups before it asked for approvals: those are alerts of their own kind.)
    alerts = [json.loads(body) for _, body in webhook_receiver.received]
    assert {a["kind"] for a in alerts} == {"session.suspended", "approval.requested"}
    [alert] = [a for a in alerts if a["kind"] == "session.suspended"]
    assert alert["severity"] == "critical"
    assert alert["details"]["session"] == alert_event["payload"]["session"]
    assert "new_destination" in alert["details"]["signals"]
    assert "drop.evil.example" in alert["details"]["explanation"]  # the domain, not the URL
    assert "/x" not in alert["details"]["explanation"]

    # A person looks, and resumes the session: the routine goes on.
    session = alert["details"]["session"]
    resumed = await warden.call("POST", f"/v1/sessions/{session}/resume", json={"reason": "ok"})
    assert resumed.status_code == 200, resumed.text
    monday = sunday + timedelta(hours=6)
    assert (await warden.decide("erp.invoice.read", monday, invoice="INV-9")).allowed


async def test_a_held_action_a_person_approved_is_learned(warden: Warden) -> None:
    at = await warden.routine_days(4)
    request = DecisionRequest(
        Entity("agent", CLERK),
        Action("invoke"),
        Entity("tool", "erp.table.export"),
        {"arguments": {"table": "vendors"}},
    )
    held = await warden.runtime.decide(request, now=at)
    assert held.outcome is Outcome.STEP_UP and "novel_tool" in held.features["drift"]["signals"]

    warden.runtime.approved(request, at + timedelta(minutes=1))  # a person approved; it ran

    later = await warden.runtime.decide(request, now=at + timedelta(minutes=30))
    assert "novel_tool" not in later.features["drift"]["signals"]
    shown = (await warden.call("GET", f"/v1/baselines/{CLERK}")).json()
    assert "erp.table.export" in json.dumps(shown["tools"])


async def test_an_observed_secret_joins_the_session_of_its_mandate(warden: Warden) -> None:
    body = {"person": "ann@acme.example", "request": "Reconcile last month's vendor invoices"}
    issued = await warden.call("POST", "/v1/mandates", json=body)
    assert issued.status_code == 201, issued.text
    mandate, mandate_id = issued.json()["token"], issued.json()["mandate"]["id"]
    # The enforcement point reports what a tool returned: a live API key, among other things.
    observation = {
        "mandate": mandate,
        "agent": CLERK,
        "tool": "erp.invoice.read",
        "result": {"vendor": "Acme", "note": "key AKIAIOSFODNN7EXAMPLE for the portal"},
    }
    observed = await warden.call("POST", "/v1/observations", json=observation)
    assert observed.status_code == 200, observed.text
    assert "secret" in observed.json()["labels"]

    request = DecisionRequest(
        Entity("agent", CLERK),
        Action("invoke"),
        Entity("tool", "email.send"),
        {"mandate": mandate, "arguments": {"to": "someone@elsewhere.example"}},
    )
    sent = await warden.runtime.decide(request)
    assert sent.outcome is Outcome.DENY  # (the purpose denies it first, by its own rule)
    assert "secret" in sent.features["session"]["labels_seen"]
    [summary] = (await warden.call("GET", "/v1/sessions", params={"agent": CLERK})).json()[
        "sessions"
    ]
    assert summary["mandate"] == mandate_id and "secret" in summary["labels_seen"]


async def test_made_up_agents_get_no_session(warden: Warden) -> None:
    ghost = "spiffe://acme.example/agent/ghost"
    for n in range(3):
        decision = await warden.decide("erp.invoice.read", MONDAY, agent=f"{ghost}-{n}")
        assert decision.outcome is Outcome.DENY and "agent.unknown" in codes(decision)
    body = {"person": "ann@acme.example", "request": "Reconcile last month's vendor invoices"}
    mandate = (await warden.call("POST", "/v1/mandates", json=body)).json()["token"]
    observation = {"mandate": mandate, "agent": ghost, "tool": "erp.invoice.read", "result": 1}
    assert (await warden.call("POST", "/v1/observations", json=observation)).status_code == 200
    assert (await warden.call("GET", "/v1/sessions")).json()["sessions"] == []


async def test_suspension_survives_a_restart(database_url: str) -> None:
    request = DecisionRequest(
        Entity("agent", CLERK), Action("invoke"), Entity("tool", "erp.invoice.read")
    )
    runtime = await Runtime.open(database_url)
    try:
        await runtime.apply_policies(
            Bundle({"all.cedar": PERMIT_ALL}, default_schema()), author="t"
        )
        owner = {"id": CLERK, "display_name": "AP", "owner": "ann@acme.example", "team": "ap"}
        await runtime.registry.register_agent(
            AgentSpec.model_validate(owner), actor="test", now=MONDAY
        )
        assert (await runtime.decide(request, now=MONDAY)).allowed
        [summary] = await runtime.sessions.list(agent=CLERK)
        await runtime.sessions.suspend(
            summary["id"], actor="ann@acme.example", reason="investigating", now=MONDAY
        )
    finally:
        await runtime.close()

    reopened = await Runtime.open(database_url)
    try:
        decision = await reopened.decide(request, now=MONDAY + timedelta(minutes=1))
        assert decision.outcome is Outcome.DENY and "session.suspended" in codes(decision)
        [held] = [r for r in decision.reasons if r.code == "session.suspended"]
        assert "investigating" in held.message and "ann@acme.example" in held.message
    finally:
        await reopened.close()


async def ledger(warden: Warden) -> list[dict[str, Any]]:
    response = await warden.call("GET", "/v1/audit/entries", params={"limit": 1000})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries
