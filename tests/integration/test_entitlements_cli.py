"""`warden entitlements` end to end: on the local store, and against a live server with the
admin token and an owner's token. Right-sizing reads decisions really made and recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.cli.main import app
from warden.decisions.models import Action, DecisionRequest, Entity
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime

ADMIN = "cli-entitlements-admin-token"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, *fragments: str) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    return result.output


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    monkeypatch.setenv("WARDEN_DATABASE_URL", url)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return url


def _invoke(agent: str, tool: str) -> DecisionRequest:
    return DecisionRequest(Entity("agent", agent), Action("invoke"), Entity("tool", tool))


async def _month_old_grants_and_one_use(runtime: Runtime) -> dict[str, str]:
    """Two grants made 40 days ago, one of them used today (a real, recorded decision)."""
    old = datetime.now(UTC) - timedelta(days=40)
    ids = {}
    for tool in ("erp.invoice.read", "erp.payment.read"):
        grant = await runtime.entitlements.grant(
            AP, "invoke", "Tool", tool, justification=f"needs {tool}", actor="ana", now=old
        )
        ids[tool] = grant.id
    assert (await runtime.decide(_invoke(AP, "erp.invoice.read"))).allowed
    return ids


def test_grant_list_revoke_and_templates_on_the_local_store(store: str, tmp_path: Path) -> None:
    ok(warden("agents", "add", "--id", AP, "--name", "AP", "--owner", "ana@acme.example",
              "--team", "finance"))  # fmt: skip
    granted = ok(warden("entitlements", "grant", AP, "email.send", "-j", "emails suppliers"))
    assert "granted" in granted and "email.send" in granted
    refused(warden("entitlements", "grant", AP, "email.send", "-j", "again"), "already holds")
    refused(warden("entitlements", "grant", AP, "x", "-j", " "), "justification is required")
    refused(warden("entitlements", "grant", AP, "x", "-j", "y", "--expires", "soon"), "--expires")

    applied = ok(warden("entitlements", "apply-template", AP, "ap-reconciliation", "--expires",
                        "90d"))  # fmt: skip
    assert "granted 4 from template ap-reconciliation" in applied
    listed = json.loads(ok(warden("entitlements", "list", "--agent", AP, "--json")))
    grants = {g["resource_id"]: g for g in listed["entitlements"]}
    assert set(grants) == {
        "email.send", "erp.invoice.read", "erp.payment.read", "ledger.read", "erp.invoice.flag"
    }  # fmt: skip
    assert grants["ledger.read"]["template"] == "ap-reconciliation"
    assert grants["ledger.read"]["expires_at"] and grants["email.send"]["expires_at"] is None

    revoked = ok(warden("entitlements", "revoke", grants["email.send"]["id"], "--reason", "no"))
    assert f"revoked {grants['email.send']['id']}" in revoked
    assert "revoked" in ok(warden("entitlements", "list", "--state", "revoked"))

    custom = tmp_path / "bad.yaml"
    custom.write_text("name: bad\npurpose: x\ngrants:\n  - tool: a\n  - resource: b\n")
    problems = refused(warden("entitlements", "apply-template", AP, str(custom)), "not valid")
    assert f"{custom}:4: grant 1: `justification` is required" in problems
    assert f"{custom}:5: grant 2: `justification` is required" in problems
    shown = ok(warden("entitlements", "templates", "incident-triage"))
    assert "logs.search" in shown and "searches the affected service's logs" in shown
    assert "sales-crm-updates" in ok(warden("entitlements", "templates"))


def test_unused_report_apply_and_restore_on_the_local_store(store: str) -> None:
    async def setup() -> dict[str, str]:
        runtime = await Runtime.open(store)
        try:
            spec = AgentSpec(id=AP, display_name="AP", owner="ana@acme.example", team="finance")
            await runtime.registry.register_agent(spec, actor="test", now=datetime.now(UTC))
            ids = await _month_old_grants_and_one_use(runtime)
            await runtime.entitlements.grant(
                AP, "invoke", "Tool", "ledger.read", justification="new", actor="ana",
                now=datetime.now(UTC),
            )  # fmt: skip
            return ids
        finally:
            await runtime.close()

    ids = asyncio.run(setup())
    idle = ids["erp.payment.read"]
    report = ok(warden("entitlements", "unused", "--days", "30"))
    assert "1 grant(s) with no permitted decision in the last 30 days" in report
    assert idle in report and ids["erp.invoice.read"] not in report.split("not judged")[0]
    assert "1 in use · 1 permitted decisions read" in report
    assert "not judged, granted less than 30 days ago" in report

    applied = ok(warden("entitlements", "unused", "--days", "30", "--apply"))
    assert f"warden entitlements restore {idle}" in applied
    pruned = json.loads(ok(warden("entitlements", "list", "--state", "pruned", "--json")))
    assert [g["id"] for g in pruned["entitlements"]] == [idle]
    assert pruned["entitlements"][0]["change_reason"] == "unused for 30 days"

    assert f"restored {idle}" in ok(warden("entitlements", "restore", idle))
    refused(warden("entitlements", "restore", idle), "only pruned grants")
    again = json.loads(ok(warden("entitlements", "unused", "--days", "30", "--json")))
    assert again["unused"] == []  # a restored grant is judged from its restoration on
    assert idle in [g["id"] for g in again["too_recent"]]


def test_against_a_live_server_with_admin_and_owner_tokens(
    store: str, live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    monkeypatch.setenv("WARDEN_URL", server.url)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    for agent, owner in ((AP, "ana@acme.example"), (HR, "bo@acme.example")):
        ok(warden("agents", "add", "--id", agent, "--name", "bot", "--owner", owner,
                  "--team", "finance"))  # fmt: skip
    assert server.runtime is not None
    ids = server.call(_month_old_grants_and_one_use(server.runtime))

    report = json.loads(ok(warden("entitlements", "unused", "--json")))
    assert [g["id"] for g in report["unused"]] == [ids["erp.payment.read"]]
    applied = json.loads(ok(warden("entitlements", "unused", "--apply", "--json")))
    assert [g["id"] for g in applied["pruned"]] == [ids["erp.payment.read"]]
    assert "restored" in ok(warden("entitlements", "restore", ids["erp.payment.read"]))
    assert "ap-reconciliation" in ok(warden("entitlements", "templates"))

    token = json.loads(
        ok(warden("access", "grant", "--person", "ana@acme.example", "--role", "owner", "--json"))
    )["token"]
    monkeypatch.setenv("WARDEN_TOKEN", token)
    mine = json.loads(
        ok(warden("entitlements", "grant", AP, "email.send", "-j", "mails", "--json"))
    )
    assert mine["granted_by"] == "ana@acme.example"
    refused(warden("entitlements", "grant", HR, "email.send", "-j", "x"), "403", "not an owner")
    refused(warden("entitlements", "restore", ids["erp.payment.read"]), "403")  # admin only
    ok(warden("entitlements", "revoke", mine["id"], "--reason", "done"))
    decision = server.call(server.runtime.decide(_invoke(AP, "email.send")))
    assert not decision.allowed
