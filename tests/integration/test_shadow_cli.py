"""``warden shadow`` on a local store and against a running server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden import Warden
from warden.cli.main import app

ADMIN = "test-admin-token-0123456789"
GHOST = "spiffe://acme.example/agent/ghost"
TOOL = {"type": "tool", "id": "ledger.read"}


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


def test_list_show_promote_block_on_the_local_store(store: str) -> None:
    assert "no shadow agents sighted" in ok(warden("shadow", "list"))
    with Warden.open(store) as embedded:  # an in-process enforcement point (the SDK)
        for _ in range(3):
            embedded.decide({"type": "agent", "id": GHOST}, "invoke", TOOL, {"user": "ann@x.io"})
    table = ok(warden("shadow", "list"))
    assert GHOST in table and "ledger.read" in table and "sdk" in table and "open" in table
    [sighting] = json.loads(ok(warden("shadow", "list", "--json")))["sightings"]
    assert sighting["count"] == 3 and sighting["humans"] == ["ann@x.io"]
    shown = ok(warden("shadow", "show", sighting["id"]))
    assert "ann@x.io" in shown and "not registered" in shown

    refused(warden("shadow", "promote", GHOST, "--owner", "bob", "--team", "t"), "--owner")
    promoted = ok(warden("shadow", "promote", GHOST, "--owner", "bob@x.io", "--team", "fin"))
    assert "provisioned" in promoted
    agent = json.loads(ok(warden("agents", "show", GHOST, "--json")))
    assert agent["status"] == "provisioned" and agent["team"] == "fin"
    refused(
        warden("shadow", "promote", sighting["id"], "--owner", "bob@x.io", "--team", "fin"),
        "already promoted",
    )

    ok(warden("shadow", "block", GHOST, "--reason", "nobody vouches for it"))
    assert "blocked" in ok(warden("shadow", "list", "--status", "blocked"))
    with Warden.open(store) as embedded:
        decision = embedded.decide({"type": "agent", "id": GHOST}, "invoke", TOOL)
    assert [r.code for r in decision.reasons] == ["agent.blocked", "agent.provisioned"]
    ok(warden("shadow", "unblock", GHOST))
    assert (
        json.loads(ok(warden("shadow", "show", GHOST, "--json")))["sightings"][0]["status"]
        == "promoted"
    )
    refused(warden("shadow", "show", "nothing-like-it"), "no sighting `nothing-like-it`")


def test_the_cli_blocks_through_a_running_server(
    store: str, live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    monkeypatch.setenv("WARDEN_URL", server.url)
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    body = {"subject": {"type": "agent", "id": GHOST}, "action": {"name": "invoke"},
            "resource": TOOL}  # fmt: skip
    first = httpx.post(f"{server.url}/access/v1/evaluation", json=body).json()
    assert [r["code"] for r in first["context"]["reasons"]] == ["agent.unknown"]
    assert GHOST in ok(warden("shadow", "list"))
    ok(warden("shadow", "block", f"subject:{GHOST}", "--reason", "unknown workload"))
    again = httpx.post(f"{server.url}/access/v1/evaluation", json=body).json()
    assert again["context"]["reasons"][0]["code"] == "agent.blocked"
    refused(
        warden("shadow", "promote", GHOST, "--owner", "bob@x.io", "--team", "fin"),
        "blocked; unblock it first",
    )
    monkeypatch.setenv("WARDEN_TOKEN", "wrong")
    refused(warden("shadow", "list"), "401")
