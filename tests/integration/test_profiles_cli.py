"""``warden profiles`` (the real CLI) on the local store and against a live server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.cli.main import app

ADMIN = "cli-profiles-admin-token-0123456789"

PROFILE = """\
name: expense-approval
description: Approve employees' expense reports within policy
examples: [Approve Maria's travel expenses from the Berlin trip]
tools:
  - expenses.read
  - tool: expenses.approve
    arguments:
      amount: {max: 2000}
max_chain_depth: 1
"""


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
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


def test_validate_reports_every_problem_by_file_line_and_column(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROFILE.replace("max: 2000", "max: lots").replace("name: expense", "nom: x"))
    result = warden("profiles", "validate", str(bad))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"profile `{bad}` is not valid" in result.output
    assert f"{bad}:1:1: unknown key `nom`" in result.output
    assert f"{bad}:8:21: `tools.1.arguments.amount.max`: must be a number" in result.output
    good = tmp_path / "good.yaml"
    good.write_text(PROFILE)
    shown = ok(warden("profiles", "validate", str(good)))
    assert "valid: expense-approval (2 tools, 0 budgets, 0 flow rules, 0 step-up rules)" in shown
    missing = warden("profiles", "validate", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1 and "cannot read profile" in missing.output


def test_apply_list_and_show_on_the_local_store(store: str, tmp_path: Path) -> None:
    listed = json.loads(ok(warden("profiles", "list", "--json")))["profiles"]
    assert len(listed) == 10
    table = ok(warden("profiles", "list"))
    assert "invoice-payment" in table and "payments ≤ 10,000 EUR" in table

    path = tmp_path / "expense.yaml"
    path.write_text(PROFILE)
    applied = ok(warden("profiles", "apply", str(path)))
    assert "profile expense-approval is at version 1 (applied by warden cli)" in applied
    path.write_text(PROFILE.replace("2000", "1500"))
    assert "at version 2" in ok(warden("profiles", "apply", str(path)))
    assert "at version 2" in ok(warden("profiles", "apply", str(path)))  # unchanged: no v3

    shown = ok(warden("profiles", "show", "expense-approval"))
    assert "expense-approval version 2, applied by warden cli" in shown
    assert "amount: {max: 1500}" in shown
    old = json.loads(ok(warden("profiles", "show", "expense-approval", "--version", "1", "--json")))
    assert old["version"] == 1 and "max: 2000" in old["yaml"]
    unknown = warden("profiles", "show", "nothing-here")
    assert unknown.exit_code == 1 and "no purpose profile `nothing-here`" in unknown.output


def test_apply_against_a_live_server_needs_an_admin(
    store: str,
    tmp_path: Path,
    live_server: Callable[..., LiveServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = live_server(ADMIN)
    monkeypatch.setenv("WARDEN_URL", server.url)
    path = tmp_path / "expense.yaml"
    path.write_text(PROFILE)

    monkeypatch.setenv("WARDEN_TOKEN", "not-the-token")
    refused = warden("profiles", "apply", str(path))
    assert refused.exit_code == 1 and "(401)" in refused.output

    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    assert "at version 1 (applied by admin)" in ok(warden("profiles", "apply", str(path)))
    names = [p["name"] for p in json.loads(ok(warden("profiles", "list", "--json")))["profiles"]]
    assert "expense-approval" in names
    assert server.runtime is not None
    current = server.runtime.profiles.current("expense-approval")
    assert current is not None and current.version == 1
