"""``warden sessions`` on a local store and against a running server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from warden import Warden
from warden.cli.main import app
from warden.sessions import session_id

ADMIN = "test-admin-token-0123456789"
CLERK = "spiffe://acme.example/agent/clerk"
TOOL = {"type": "tool", "id": "ledger.read"}
SID = session_id(CLERK, "")


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def refused(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    monkeypatch.setenv("WARDEN_DATABASE_URL", url)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return url


def register() -> None:
    ok(warden("agents", "add", "--id", CLERK, "--name", "Clerk", "--owner", "ann@acme.example",
              "--team", "ap"))  # fmt: skip


def test_list_show_suspend_resume_on_the_local_store(store: str) -> None:
    assert "no sessions" in ok(warden("sessions", "list"))
    register()
    with Warden.open(store) as embedded:  # an in-process enforcement point (the SDK)
        for n in range(2):
            embedded.decide({"type": "agent", "id": CLERK}, "invoke", TOOL, {"arguments": {"n": n}})
    table = ok(warden("sessions", "list"))
    assert CLERK in table and SID in table and "active" in table
    [summary] = json.loads(ok(warden("sessions", "list", "--json")))["sessions"]
    assert summary["id"] == SID and summary["denied"] == 2  # no policy permits yet
    assert "no mandate" in ok(warden("sessions", "show", SID))

    refused(warden("sessions", "suspend", SID), "--reason")
    refused(warden("sessions", "suspend", SID, "--reason", ""), "--reason")
    assert "suspended" in ok(warden("sessions", "suspend", SID, "--reason", "looping"))
    shown = json.loads(ok(warden("sessions", "show", SID, "--json")))
    assert (shown["status"], shown["status_reason"]) == ("suspended", "looping")
    assert shown["status_by"] == "warden cli"
    assert SID in ok(warden("sessions", "list", "--status", "suspended"))
    refused(warden("sessions", "suspend", SID, "--reason", "again"), "already suspended")
    ok(warden("sessions", "resume", SID, "--reason", "fixed the loop"))
    refused(warden("sessions", "resume", SID, "--reason", "x"), "not suspended")
    refused(warden("sessions", "show", "ses_nothing"), "no session `ses_nothing`")


def test_the_cli_suspends_through_a_running_server(
    store: str, live_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    monkeypatch.setenv("WARDEN_URL", server.url)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    register()
    body = {"subject": {"type": "agent", "id": CLERK}, "action": {"name": "invoke"},
            "resource": TOOL}  # fmt: skip
    httpx.post(f"{server.url}/access/v1/evaluation", json=body).raise_for_status()
    assert SID in ok(warden("sessions", "list", "--agent", CLERK))
    shown = json.loads(ok(warden("sessions", "show", SID, "--json")))
    assert shown["in_memory"] is True
    assert [(a["tool"], a["outcome"]) for a in shown["recent"]] == [("ledger.read", "deny")]
    readable = ok(warden("sessions", "show", SID))
    assert "recent actions" in readable and "ledger.read" in readable
    ok(warden("sessions", "suspend", SID, "--reason", "investigating"))
    again = httpx.post(f"{server.url}/access/v1/evaluation", json=body).json()
    assert "session.suspended" in [r["code"] for r in again["context"]["reasons"]]
    ok(warden("sessions", "resume", SID, "--reason", "done"))
    monkeypatch.setenv("WARDEN_TOKEN", "wrong")
    refused(warden("sessions", "list"), "401")
