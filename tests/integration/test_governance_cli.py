"""`warden agents` (inventory and lifecycle) and `warden access` end to end: on the local
store, and against a real server with a person's owner token."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.cli.main import app

ADMIN = "cli-governance-admin-token"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-helper"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "warden.db"
    monkeypatch.setenv("WARDEN_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return db


def add(agent_id: str, owner: str, team: str, *extra: str) -> Result:
    return warden(
        "agents", "add", "--id", agent_id, "--name", team.title() + " bot", "--owner", owner,
        "--team", team, *extra,
    )  # fmt: skip


def test_lifecycle_and_inventory_on_the_local_store(store: Path) -> None:
    added = ok(add(AP, "ana@acme.example", "finance", "--purpose", "AP reconciliation"))
    assert "single owner" in added  # the warning is shown
    ok(add(HR, "bo@acme.example", "hr", "--co-owner", "cy@acme.example", "--expires", "2031-01-31"))

    suspended = ok(warden("agents", "suspend", AP, "--reason", "ticket SEC-7"))
    assert "suspended" in suspended
    shown = ok(warden("agents", "show", AP))
    assert "suspended (ticket SEC-7)" in shown and "AP reconciliation" in shown

    listed = json.loads(ok(warden("agents", "list", "--status", "suspended", "--json")))
    assert [a["id"] for a in listed["agents"]] == [AP]
    table = ok(warden("agents", "list", "--team", "hr"))
    assert "Hr bot" in table and "1 to 1 of 1 agents" in table

    ok(warden("agents", "retire", AP, "--reason", "replaced"))
    refused(warden("agents", "activate", AP, "--reason", "again"), "cannot go from retired")
    refused(warden("agents", "suspend", AP), "--reason")  # a reason is required

    updated = ok(warden("agents", "update", HR, "--owner", "dee@acme.example", "--no-expiry"))
    assert "updated" in updated
    after = json.loads(ok(warden("agents", "show", HR, "--json")))
    assert (after["owners"], after["expires_at"]) == (["dee@acme.example"], None)
    refused(warden("agents", "update", HR), "nothing to change")
    refused(warden("agents", "update", HR, "--owner", "not-an-email"), "--owner")


def test_paging_tells_where_the_next_page_starts(store: Path) -> None:
    for i in range(3):
        ok(add(f"spiffe://acme.example/agent/bot-{i}", "ana@acme.example", "ops"))
    first = ok(warden("agents", "list", "--limit", "2"))
    assert "1 to 2 of 3 agents · next page: --offset 2" in first
    second = ok(warden("agents", "list", "--limit", "2", "--offset", "2"))
    assert "bot-2" in second and "next page" not in second
    assert "no agents match" in ok(warden("agents", "list", "--owner", "zed@acme.example"))


def test_an_owner_token_from_the_cli_manages_only_their_agents(
    store: Path, live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    monkeypatch.setenv("WARDEN_URL", server.url)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    ok(add(AP, "ana@acme.example", "finance"))
    ok(add(HR, "bo@acme.example", "hr"))
    granted = json.loads(
        ok(warden("access", "grant", "--person", "Ana@acme.example", "--role", "owner", "--json"))
    )
    assert granted["person"] == "ana@acme.example" and granted["token"].startswith("wdn_")
    listing = ok(warden("access", "list"))
    assert "ana@acme.example" in listing and granted["token"] not in listing

    monkeypatch.setenv("WARDEN_TOKEN", granted["token"])
    ok(warden("agents", "suspend", AP, "--reason", "my call"))
    refused(warden("agents", "suspend", HR, "--reason", "not mine"), "403", "not an owner")
    refused(warden("access", "list"), "403")

    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    ok(warden("access", "revoke", granted["id"]))
    monkeypatch.setenv("WARDEN_TOKEN", granted["token"])
    refused(warden("agents", "list"), "401")
