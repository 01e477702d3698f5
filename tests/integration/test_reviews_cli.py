"""`warden reviews` end to end: against a real `warden serve`-like server with owners' and an
auditor's tokens, and on the local store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.cli.main import app
from warden.registry.specs import AgentSpec, ToolSpec
from warden.runtime import Runtime

ADMIN = "cli-reviews-admin-token"
ANN = "ann@acme.example"
BOB = "bob@acme.example"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def ok_json(*args: str) -> Any:
    return json.loads(ok(warden(*args, "--json")))


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "warden.db"
    monkeypatch.setenv("WARDEN_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return db


async def seed(runtime: Runtime) -> None:
    """AP (ann) may read and pay invoices; HR (bob) may read HR records."""
    now = datetime.now(UTC)
    for agent_id, owner, team in ((AP, ANN, "finance"), (HR, BOB, "people")):
        spec = AgentSpec(
            id=agent_id, display_name=agent_id.rsplit("/", 1)[-1], owner=owner, team=team
        )
        await runtime.registry.register_agent(spec, actor="admin", now=now)
    tools = ("erp.invoice.read", "erp.invoice.pay", "hr.read")
    await runtime.registry.register_tools([ToolSpec(name=t) for t in tools], actor="admin", now=now)
    for agent_id, tool in ((AP, tools[0]), (AP, tools[1]), (HR, tools[2])):
        await runtime.entitlements.grant(
            agent_id, "invoke", "Tool", tool, justification="month end", actor="admin", now=now
        )


def test_a_campaign_round_trip_against_a_live_server(
    env: Path, live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    assert server.runtime is not None
    server.call(seed(server.runtime))
    monkeypatch.setenv("WARDEN_URL", server.url)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)

    opened = ok_json(
        "reviews", "open", "--name", "Q1 all agents", "--deadline", "14d",
        "--on-deadline", "revoke",
    )  # fmt: skip
    campaign = opened["id"]
    assert opened["progress"]["total"] == 3 and opened["scope"] == {"kind": "all", "value": None}
    listing = ok(warden("reviews", "list"))
    assert campaign in listing and "0/3 (0%)" in listing
    ann = ok_json("access", "grant", "--person", ANN, "--role", "owner")["token"]
    auditor = ok_json("access", "grant", "--person", "audit@acme.example", "--role", "auditor")

    monkeypatch.setenv("WARDEN_TOKEN", ann)
    mine = ok_json("reviews", "items", campaign, "--reviewer", ANN, "--state", "pending")
    numbers = {i["entitlement"]["resource_id"]: i["number"] for i in mine["items"]}
    assert set(numbers) == {"erp.invoice.read", "erp.invoice.pay"}
    table = ok(warden("reviews", "items", campaign, "--reviewer", ANN))
    assert "pending" in table and "ap-clerk" in table
    certified = ok(
        warden("reviews", "certify", campaign, str(numbers["erp.invoice.read"]), "--comment", "ok")
    )
    assert "certified by ann@acme.example" in certified
    revoked = ok(warden("reviews", "revoke", campaign, str(numbers["erp.invoice.pay"])))
    assert "revoked by ann@acme.example; the entitlement is revoked" in revoked
    refused(
        warden("reviews", "certify", campaign, str(numbers["erp.invoice.pay"])),
        "409",
        "already revoked",
    )
    hr_item = next(i for i in ok_json("reviews", "items", campaign)["items"] if i["agent_id"] == HR)
    refused(warden("reviews", "revoke", campaign, str(hr_item["number"])), "403", "not a reviewer")
    refused(warden("reviews", "close", campaign), "403")

    monkeypatch.setenv("WARDEN_TOKEN", auditor["token"])
    shown = ok(warden("reviews", "show", campaign))
    assert "2/3 (66%)" in shown and "1 certified" in shown and "1 revoked" in shown
    assert BOB in shown  # bob still has HR's item to decide
    refused(warden("reviews", "certify", campaign, str(hr_item["number"])), "403")

    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    closed = ok(warden("reviews", "close", campaign))
    assert "1 undecided item got the consequence" in closed
    report = ok_json("reviews", "show", campaign)
    assert report["state"] == "closed" and report["progress"]["expired"] == 1
    grants = server.call(server.runtime.entitlements.list(agent_id=HR))
    assert [g.state.value for g in grants] == ["revoked"]


def test_a_campaign_on_the_local_store(env: Path) -> None:
    async def prepare() -> None:
        runtime = await Runtime.open()
        try:
            await seed(runtime)
        finally:
            await runtime.close()

    asyncio.run(prepare())
    opened = ok_json(
        "reviews", "open", "--name", "people", "--team", "people",
        "--deadline", "2999-01-01T00:00:00Z", "--on-deadline", "suspend",
    )  # fmt: skip
    assert opened["on_deadline"] == "suspend" and opened["progress"]["total"] == 1
    revoked = ok(warden("reviews", "revoke", opened["id"], "1", "--comment", "moved to Workday"))
    assert "revoked by warden cli" in revoked
    assert ok_json("reviews", "list", "--state", "open")["campaigns"][0]["id"] == opened["id"]
    assert "no items match" in ok(warden("reviews", "items", opened["id"], "--state", "pending"))
    ok(warden("reviews", "close", opened["id"]))
    assert ok_json("reviews", "list", "--state", "open")["campaigns"] == []


def test_bad_options_are_one_readable_line(env: Path) -> None:
    refused(
        warden("reviews", "open", "--name", "x", "--team", "a", "--owner", ANN,
               "--deadline", "3d", "--on-deadline", "revoke"),
        "at most one of --team, --owner, --risk-tier",
    )  # fmt: skip
    refused(
        warden("reviews", "open", "--name", "x", "--deadline", "tomorrow", "--on-deadline",
               "revoke"),
        "--deadline",
    )  # fmt: skip
    refused(warden("reviews", "show", "rev-missing"), "no access review `rev-missing`")
