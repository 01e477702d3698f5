"""``warden approvals`` against a running Warden (uvicorn on loopback, the whole app over a
real SQLite store and ledger) with a person's approver token, and its refusal to vote on the
local store."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from warden.access.models import Role
from warden.approvals import action_hash
from warden.cli.main import app

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import LiveServer

TOKEN = "cli-admin-token-0123456789"
AGENT = "spiffe://acme.example/agent/ap-clerk"


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    """A real Warden (the whole app, its ledger included) on uvicorn over SQLite."""
    return live_server(TOKEN)


def warden(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def test_an_approver_lists_shows_and_approves(server: LiveServer) -> None:
    now = datetime.now(UTC)
    runtime = server.runtime
    assert runtime is not None
    _, secret = server.call(
        runtime.access.issue("alice@acme.example", [Role.APPROVER], actor="admin", now=now)
    )
    held = server.call(
        runtime.approvals.hold(
            action_hash=action_hash(AGENT, "call", "tool", "payments.transfer", {}, None, None),
            decision_id="dec_1", agent=AGENT, person="carol@acme.example",
            tool="payments.transfer", mandate_id=None, chain_id=None, session_id=None,
            reasons=[{"code": "payments.large", "message": "over 10000"}],
            held={"arguments": {"amount": 48_000}}, now=now,
        )
    )  # fmt: skip
    env = {"WARDEN_URL": server.url, "WARDEN_TOKEN": secret}
    listed = warden("approvals", "list", "--status", "pending", "--json", env=env)
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.output)["approvals"]] == [held.id]
    shown = warden("approvals", "show", held.id, env=env)
    assert shown.exit_code == 0 and "48000" in shown.output and "payments.large" in shown.output
    voted = warden("approvals", "approve", held.id, "--comment", "invoice checked", env=env)
    assert voted.exit_code == 0, voted.output
    assert f"approve recorded on {held.id}" in voted.output and "approved" in voted.output
    stored = server.call(runtime.approvals.get(held.id))
    assert [(v.approver, v.comment) for v in stored.votes] == [
        ("alice@acme.example", "invoice checked")
    ]
    again = warden("approvals", "deny", held.id, env=env)
    assert again.exit_code != 0 and "approved" in again.output and "Traceback" not in again.output
    admin = warden("approvals", "deny", held.id, env={**env, "WARDEN_TOKEN": TOKEN})
    assert admin.exit_code != 0 and "approver" in admin.output


def test_voting_on_the_local_store_is_refused_with_what_to_do(tmp_path: Path) -> None:
    env = {"WARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WARDEN_URL": ""}
    refused = warden("approvals", "approve", "apr_x", env=env)
    assert refused.exit_code != 0 and isinstance(refused.exception, SystemExit)
    assert "WARDEN_URL" in refused.output and "approver" in refused.output
