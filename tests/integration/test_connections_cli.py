"""``warden connections`` against a running Warden (uvicorn on loopback over SQLite) with the
admin token, and on the local store: a secret goes in from an environment variable or stdin,
never from an argument, and never comes back out."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner, Result

from warden.cli.main import app

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import LiveServer

TOKEN = "connections-cli-admin-token-0123456789"
KEY = "erp-api-key-from-the-vault-8f2c"
PASSWORD = "docs-password-from-stdin-77"


def warden(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(TOKEN)


def test_an_admin_adds_lists_shows_and_removes_connections(server: LiveServer) -> None:
    runtime = server.runtime
    assert runtime is not None
    env = {"WARDEN_URL": server.url, "WARDEN_TOKEN": TOKEN, "ERP_KEY": KEY}
    added = warden(
        "connections", "add", "erp", "--upstream", "https://erp.acme.example/api",
        "--auth", "api_key", "--header", "X-Api-Key", "--secret-env", "ERP_KEY",
        "--route", "GET /invoices/{id} erp.invoice.read",
        "--route", "post /payments payments.transfer",
        "--timeout", "7.5", "--max-request-bytes", "2048", "--max-response-bytes", "8192",
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "added connection erp" in added.output and KEY not in added.output
    erp = server.call(runtime.connections.get("erp"))
    assert runtime.connections.static_headers(erp) == {"X-Api-Key": KEY}
    assert erp.limits.timeout == 7.5 and erp.limits.max_response_bytes == 8192
    assert [(r.method, r.template, r.tool) for r in erp.routes] == [
        ("GET", "/invoices/{id}", "erp.invoice.read"),
        ("POST", "/payments", "payments.transfer"),
    ]

    docs = warden(
        "connections", "add", "docs", "--upstream", "http://127.0.0.1:9/mcp", "--protocol", "mcp",
        "--auth", "basic", "--username", "warden", "--secret-stdin", "--json",
        env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert docs.exit_code == 0, docs.output
    assert json.loads(docs.output)["tool_prefix"] == "docs." and PASSWORD not in docs.output
    assert runtime.connections.secret("docs") == PASSWORD  # the newline is not part of it

    listed = warden("connections", "list", env=env)
    assert listed.exit_code == 0, listed.output
    key = runtime.connections.box.key_id
    for shown in ("erp", "docs", "api_key", "basic", "docs.*", f"key {key}"):
        assert shown in listed.output, shown
    as_json = json.loads(warden("connections", "list", "--json", env=env).output)
    assert [c["name"] for c in as_json["connections"]] == ["docs", "erp"]
    shown_erp = warden("connections", "show", "erp", env=env)
    assert shown_erp.exit_code == 0 and "/invoices/{id}" in shown_erp.output
    assert "timeout 7.5 s" in shown_erp.output

    rekeyed = warden("connections", "rekey", env=env)
    assert rekeyed.exit_code == 0 and f"already under key {key}" in rekeyed.output
    removed = warden("connections", "remove", "erp", env=env)
    assert removed.exit_code == 0 and "removed connection erp" in removed.output
    missing = warden("connections", "show", "erp", env=env)
    assert missing.exit_code == 1 and "no connection `erp`" in missing.output
    everything = listed.output + as_json.__repr__() + shown_erp.output + rekeyed.output
    assert KEY not in everything and PASSWORD not in everything


def test_a_secret_is_never_taken_from_the_command_line(server: LiveServer) -> None:
    env = {"WARDEN_URL": server.url, "WARDEN_TOKEN": TOKEN}
    base = ["connections", "add", "erp", "--upstream", "https://erp.example", "--auth", "api_key",
            "--route", "GET /x erp.x"]  # fmt: skip
    as_argument = warden(*base, "--secret", KEY, env=env)
    assert as_argument.exit_code == 2  # no such option
    unset = warden(*base, "--secret-env", "NOT_SET_ANYWHERE", env=env)
    assert unset.exit_code == 1 and "`NOT_SET_ANYWHERE`" in unset.output
    without = warden(*base, env=env)
    assert without.exit_code == 1 and "needs a secret" in without.output
    bad_route = warden(*base[:-2], "--route", "GET /x", "--secret-env", "K", env={**env, "K": KEY})
    assert bad_route.exit_code == 1 and "METHOD /template tool" in bad_route.output
    no_server = warden(*base, "--secret-env", "K", env={**env, "K": KEY, "WARDEN_TOKEN": "wrong"})
    assert no_server.exit_code == 1 and "401" in no_server.output and KEY not in no_server.output
    assert server.runtime is not None and server.runtime.connections.list() == []


def test_on_the_local_store_a_dropped_key_is_reported_not_crashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {"WARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "WARDEN_URL": "", "K": KEY}
    monkeypatch.setenv("WARDEN_SECRET_KEYS", old)
    added = warden(
        "connections", "add", "erp", "--upstream", "https://erp.example", "--auth", "api_key",
        "--secret-env", "K", "--route", "GET /x erp.x", env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    monkeypatch.setenv("WARDEN_SECRET_KEYS", new)  # the old key dropped before a rekey
    listed = warden("connections", "list", env=env)
    assert listed.exit_code == 0 and "erp" in listed.output
    refused = warden("connections", "rekey", env=env)
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)
    assert "no configured key decrypts the secret of `erp`" in refused.output
    monkeypatch.setenv("WARDEN_SECRET_KEYS", f"{new},{old}")  # put it back, after the new one
    rekeyed = warden("connections", "rekey", "--json", env=env)
    assert rekeyed.exit_code == 0, rekeyed.output
    assert json.loads(rekeyed.output)["rekeyed"] == ["erp"]
