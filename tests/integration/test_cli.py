"""The `warden` commands end to end: a temp SQLite store, and a real `warden serve`."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from warden.cli.main import app

TOKEN = "test-admin-token"
AP = "spiffe://acme.example/agent/ap-clerk"
HR = "spiffe://acme.example/agent/hr-onboarding"

FINANCE_POLICY = """\
@id("finance.ledger")
@reason("finance agents may read the ledger")
permit (principal in Team::"finance", action == Action::"invoke", resource == Tool::"ledger.read");
"""

BROKEN_POLICY = """\
@id("ok")
permit (principal, action == Action::"invoke", resource);

permit (principal, action == Action::"invoke", resource) when { principal.nope == 1 ;
"""


def warden(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


def assert_refused(result: Result, *fragments: str) -> None:
    """A non-zero exit with a readable message and no traceback."""
    text = result.output
    assert result.exit_code != 0, text
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store" / "warden.db"
    monkeypatch.setenv("WARDEN_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return db


def write_bundle(
    folder: Path, policies: dict[str, str], entities: list[object] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in policies.items():
        (folder / name).write_text(text)
    if entities is not None:
        (folder / "entities.json").write_text(json.dumps(entities))
    return folder


def add_agent(agent_id: str, team: str, *extra: str) -> Result:
    return warden(
        "agents", "add", "--id", agent_id, "--name", team.upper(), "--owner",
        "ana@acme.example", "--team", team, *extra,
    )  # fmt: skip


# -- local store ---------------------------------------------------------------------------------


def test_agents_add_list_show_on_the_local_store(store: Path) -> None:
    assert add_agent(AP, "finance", "--risk-tier", "high").exit_code == 0
    assert add_agent(HR, "hr", "--status", "suspended").exit_code == 0

    listed = json.loads(warden("agents", "list", "--json").stdout)["agents"]
    assert {(a["id"], a["team"], a["status"]) for a in listed} == {
        (AP, "finance", "active"),
        (HR, "hr", "suspended"),
    }
    shown = warden("agents", "show", AP)
    assert shown.exit_code == 0 and "high" in shown.stdout and "ana@acme.example" in shown.stdout
    assert store.exists()
    assert not (store.parent.parent / ".warden").exists()


def test_bad_agent_input_gives_one_line_errors(store: Path) -> None:
    assert_refused(add_agent("spiffe://ACME/agent/x", "finance"), "invalid --id", "`ACME`")
    assert_refused(add_agent("https://acme.example/x", "finance"), "spiffe://")
    assert_refused(warden("agents", "show", AP), f"no agent `{AP}` is registered")
    add_agent(AP, "finance")
    assert_refused(add_agent(AP, "finance"), "already registered")


def test_tools_import_maps_mcp_annotations_with_mcp_defaults(store: Path, tmp_path: Path) -> None:
    listing = {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {
            "tools": [
                {"name": "ledger.read", "annotations": {"readOnlyHint": True}},
                {"name": "payments.transfer", "description": "pay a supplier"},
                {
                    "name": "notes.write",
                    "annotations": {"destructiveHint": False, "openWorldHint": False},
                    "_meta": {"warden/labels": ["finance"]},
                },
            ]
        },
    }
    (tmp_path / "tools.json").write_text(json.dumps(listing))

    result = warden("tools", "import", "tools.json")

    assert result.exit_code == 0, result.output
    assert "imported 3 tool(s)" in result.stdout
    assert "read-only" in result.stdout and "destructive, external" in result.stdout
    tools = {
        t["name"]: t["annotations"] for t in json.loads(warden("tools", "list", "--json").stdout)
    }
    assert tools["ledger.read"] == {
        "read_only": True, "destructive": False, "external": True, "labels": [],
    }  # fmt: skip
    assert tools["payments.transfer"] == {
        "read_only": False, "destructive": True, "external": True, "labels": [],
    }  # fmt: skip
    assert tools["notes.write"] == {
        "read_only": False, "destructive": False, "external": False, "labels": ["finance"],
    }  # fmt: skip


def test_tools_import_reads_stdin_and_reports_broken_json(store: Path) -> None:
    bare = json.dumps(
        {"tools": [{"name": "email.send", "annotations": {"destructiveHint": False}}]}
    )
    assert warden("tools", "import", "-", "--json", stdin=bare).exit_code == 0
    assert_refused(
        warden("tools", "import", "-", stdin='{"tools": [\n  {"name": 1,}\n]}'), "<stdin>:2:"
    )
    assert_refused(warden("tools", "import", "missing.json"), "`missing.json` does not exist")
    assert_refused(warden("tools", "import", "-", stdin='{"x": 1}'), "`tools` array")


def test_policy_validate_shows_file_line_column(store: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "bundle", {"a.cedar": FINANCE_POLICY, "broken.cedar": BROKEN_POLICY})

    result = warden("policy", "validate", "bundle")

    assert result.exit_code == 1
    assert "bundle/broken.cedar:4:" in result.stdout
    good = write_bundle(tmp_path / "good", {"a.cedar": FINANCE_POLICY})
    assert warden("policy", "validate", str(good)).exit_code == 0
    assert_refused(warden("policy", "validate", "nowhere"), "`nowhere` does not exist")


def test_policy_apply_and_show_on_the_local_store(store: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "good", {"finance.cedar": FINANCE_POLICY})
    write_bundle(tmp_path / "bad", {"broken.cedar": BROKEN_POLICY})

    applied = warden("policy", "apply", "good", "--json")
    assert applied.exit_code == 0, applied.output
    revision = json.loads(applied.stdout)["revision"]

    refused = warden("policy", "apply", "bad")
    assert refused.exit_code == 1
    assert "bad/broken.cedar:4:" in refused.stdout
    assert f"the active revision is unchanged (revision {revision})" in refused.stdout

    shown = json.loads(warden("policy", "show", "--json").stdout)
    assert shown["revision"] == revision
    assert shown["policies"] == {"finance.cedar": FINANCE_POLICY}
    assert "finance.cedar" in warden("policy", "show", str(revision)).stdout
    assert_refused(warden("policy", "show", "99"), "no revision `99`")


def test_several_folders_apply_together_as_one_bundle(store: Path, tmp_path: Path) -> None:
    write_bundle(tmp_path / "good", {"finance.cedar": FINANCE_POLICY})
    write_bundle(tmp_path / "bad", {"broken.cedar": BROKEN_POLICY})

    refused = warden("policy", "apply", "good", "bad")
    assert refused.exit_code == 1
    assert "bad/broken.cedar:4:" in refused.stdout  # named from where it was given

    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "x.cedar").write_text('@id("x") forbid(principal, action, resource);')
    applied = warden("policy", "apply", "good", "more", "--json")
    assert applied.exit_code == 0, applied.output
    shown = json.loads(warden("policy", "show", "--json").stdout)
    assert sorted(shown["policies"]) == ["good/finance.cedar", "more/x.cedar"]

    (tmp_path / "more" / "schema.cedarschema").write_text("entity Person;\n")
    assert_refused(warden("policy", "apply", "good", "more"), "different schemas")


def _case(name: str, agent: str, tool: str, expected: str) -> dict[str, object]:
    request = {
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "invoke"},
        "resource": {"type": "tool", "id": tool},
    }
    return {"name": name, "request": request, "expected": expected}


def _policy_test_bundle(folder: Path) -> Path:
    agent = {
        "uid": {"type": "Agent", "id": AP},
        "attrs": {
            "display_name": "AP clerk",
            "owner": {"__entity": {"type": "Person", "id": "ana@acme.example"}},
            "team": {"__entity": {"type": "Team", "id": "finance"}},
            "status": "active",
            "risk_tier": "medium",
        },
        "parents": [{"type": "Team", "id": "finance"}],
    }
    tool = {
        "uid": {"type": "Tool", "id": "ledger.read"},
        "attrs": {
            "description": "read the ledger",
            "read_only": True,
            "destructive": False,
            "external": False,
            "labels": ["finance"],
        },
        "parents": [],
    }
    return write_bundle(folder, {"finance.cedar": FINANCE_POLICY}, [agent, tool])


def test_policy_test_passes_and_fails(store: Path, tmp_path: Path) -> None:
    _policy_test_bundle(tmp_path / "bundle")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "finance.json").write_text(
        json.dumps(
            [
                _case("clerk reads ledger", AP, "ledger.read", "allow"),
                _case("clerk cannot pay", AP, "payments.transfer", "deny"),
            ]
        )
    )
    (cases / "shadow.json").write_text(json.dumps(_case("shadow", HR, "ledger.read", "deny")))

    passed = warden("policy", "test", "cases", "--bundle", "bundle")
    assert passed.exit_code == 0, passed.output
    assert "3 passed, 0 failed" in passed.stdout

    (cases / "wrong.json").write_text(json.dumps(_case("hopeful", HR, "ledger.read", "allow")))
    failed = warden("policy", "test", "cases", "--bundle", "bundle")
    assert failed.exit_code == 1
    assert "FAIL" in failed.stdout and "3 passed, 1 failed" in failed.stdout
    assert "agent.unknown" in failed.stdout
    results = json.loads(warden("policy", "test", "cases", "--bundle", "bundle", "--json").stdout)
    assert [r["passed"] for r in results] == [True, True, True, False]
    assert not store.exists(), "policy test must not touch the configured store"


def test_policy_test_rejects_malformed_cases(store: Path, tmp_path: Path) -> None:
    _policy_test_bundle(tmp_path / "bundle")
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "bad.json").write_text('{"request": {},\n "expected": maybe}')
    assert_refused(warden("policy", "test", "cases", "--bundle", "bundle"), "bad.json:2:")
    (cases / "bad.json").write_text(json.dumps(_case("x", AP, "ledger.read", "perhaps")))
    assert_refused(warden("policy", "test", "cases", "--bundle", "bundle"), "`perhaps`")


def test_audit_verify_detects_raw_sql_tampering(store: Path) -> None:
    add_agent(AP, "finance")
    add_agent(HR, "hr")
    intact = warden("audit", "verify")
    assert intact.exit_code == 0 and "OK" in intact.stdout
    seq = json.loads(warden("audit", "tail", "--json").stdout)[-1]["seq"]

    with sqlite3.connect(store) as db:
        db.execute("UPDATE ledger SET payload = ? WHERE seq = ?", ('{"actor":"mallory"}', seq))

    broken = warden("audit", "verify")
    assert broken.exit_code == 1
    assert f"entry {seq}" in broken.stdout and "altered" in broken.stdout
    report = json.loads(warden("audit", "verify", "--json").stdout)
    assert report["ok"] is False and report["first_bad_seq"] == seq


def test_audit_tail_prints_readable_lines(store: Path) -> None:
    add_agent(AP, "finance")
    warden("tools", "add", "ledger.read", "--read-only")

    result = warden("audit", "tail", "-n", "2")

    lines = result.stdout.strip().splitlines()
    assert result.exit_code == 0 and len(lines) == 2
    assert "registry:agent:created" in lines[0] and "registry:tool:created" in lines[1]


def test_every_command_has_help() -> None:
    for command in (
        ["agents", "add"], ["agents", "list"], ["agents", "show"], ["tools", "add"],
        ["tools", "list"], ["tools", "import"], ["policy", "validate"], ["policy", "apply"],
        ["policy", "show"], ["policy", "test"], ["audit", "verify"], ["audit", "tail"], ["demo"],
    ):  # fmt: skip
        result = warden(*command, "--help")
        assert result.exit_code == 0 and "--json" in result.stdout, command


# -- against a running server --------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    db: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"warden serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("warden serve did not start")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("server")
    db = home / "server.db"
    env = {
        **os.environ,
        "WARDEN_DATABASE_URL": f"sqlite:///{db}",
        "WARDEN_HOME": str(home / "home"),
        "WARDEN_ADMIN_TOKEN": TOKEN,
    }
    port = _free_port()
    command = [str(Path(sys.executable).parent / "warden"), "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process)
        yield Server(url, db)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def client_env(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_TOKEN", TOKEN)


def test_agents_over_http(server: Server, client_env: None, store: Path) -> None:
    agent = "spiffe://acme.example/agent/http-clerk"
    added = warden(
        "agents", "add", "--id", agent, "--name", "HTTP clerk", "--owner", "ana@acme.example",
        "--team", "finance", "--url", server.url,
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    listed = json.loads(warden("agents", "list", "--url", server.url, "--json").stdout)["agents"]

    assert agent in {a["id"] for a in listed}
    shown = json.loads(warden("agents", "show", agent, "--url", server.url, "--json").stdout)
    assert shown["display_name"] == "HTTP clerk"
    assert not store.exists(), "with --url the local store is not used"
    assert_refused(
        warden("agents", "add", "--id", agent, "--name", "x", "--owner", "a@b.example",
               "--team", "t", "--url", server.url),
        "409", "already registered",
    )  # fmt: skip


def test_policy_apply_over_http(
    server: Server, client_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_bundle(tmp_path / "good", {"finance.cedar": FINANCE_POLICY})
    write_bundle(tmp_path / "bad", {"broken.cedar": BROKEN_POLICY})
    monkeypatch.setenv("WARDEN_URL", server.url)

    applied = warden("policy", "apply", "good", "--json")
    assert applied.exit_code == 0, applied.output
    revision = json.loads(applied.stdout)["revision"]

    refused = warden("policy", "apply", "bad")
    assert refused.exit_code == 1
    assert "bad/broken.cedar:4:" in refused.stdout
    assert f"unchanged (revision {revision})" in refused.stdout
    assert json.loads(warden("policy", "show", "--json").stdout)["revision"] == revision


def test_a_wrong_token_is_a_readable_error(
    server: Server, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_TOKEN", "not-the-token")
    result = warden("agents", "list", "--url", server.url)
    assert_refused(result, "401", "the bearer token is not valid", "WARDEN_TOKEN")
    assert len(result.output.strip().splitlines()) == 1


def test_an_unreachable_server_is_a_readable_error(store: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert_refused(warden("agents", "list", "--url", url), f"cannot reach warden at `{url}`")
