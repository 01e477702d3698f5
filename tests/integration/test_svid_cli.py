"""`warden agents credentials issue`: against a temp SQLite store, and over HTTP (``--url``)
against a real server (uvicorn) running the SPIFFE routes."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from typer.testing import CliRunner, Result

from warden.cli.main import app
from warden.registry.models import Agent, AgentStatus, RiskTier
from warden.server.auth import AdminAuth
from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.svid import SvidAuthority
from warden.tokens.svid_api import svid_router

TD = "acme.example"
AP = "spiffe://acme.example/agent/ap-clerk"
OLD = "spiffe://acme.example/agent/old-bot"
TOKEN = "test-admin-token"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_refused(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def verify_files(folder: Path) -> x509.Certificate:
    """What a workload does with the files: trust bundle.pem, present svid.pem + svid.key."""
    leaf = x509.load_pem_x509_certificate((folder / "svid.pem").read_bytes())
    cas = x509.load_pem_x509_certificates((folder / "bundle.pem").read_bytes())
    verifier = PolicyBuilder().store(Store(cas)).time(datetime.now(UTC)).build_client_verifier()
    verified = verifier.verify(leaf, [])
    assert [n.value for n in verified.subjects or []] == [AP]
    key = serialization.load_pem_private_key((folder / "svid.key").read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()
    assert stat.S_IMODE((folder / "svid.key").stat().st_mode) == 0o600
    return leaf


# -- local store ---------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store" / "warden.db"
    monkeypatch.setenv("WARDEN_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WARDEN_TRUST_DOMAIN", TD)
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for agent_id, status in ((AP, "active"), (OLD, "suspended")):
        added = warden(
            "agents", "add", "--id", agent_id, "--name", "AP", "--owner", "ana@acme.example",
            "--team", "finance", "--status", status,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    return db


def test_issue_writes_an_x509_svid_a_key_and_the_bundle(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    result = warden("agents", "credentials", "issue", AP, "--out", str(out), "--ttl", "600")
    assert result.exit_code == 0, result.output
    assert "issued a x509-svid" in result.output
    assert "PRIVATE KEY" not in result.output
    leaf = verify_files(out)
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 610

    again = tmp_path / "again"
    assert (
        warden("agents", "credentials", "issue", AP, "--x509", "--out", str(again)).exit_code == 0
    )
    assert (again / "bundle.pem").read_text() == (out / "bundle.pem").read_text()  # one CA
    assert (again / "svid.key").read_text() != (out / "svid.key").read_text()


def test_issue_overwrites_an_existing_key_file_with_mode_0600(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    out.mkdir()
    (out / "svid.key").write_text("old")
    (out / "svid.key").chmod(0o644)
    assert warden("agents", "credentials", "issue", AP, "--out", str(out)).exit_code == 0
    verify_files(out)


def test_issue_prints_a_jwt_svid_as_json(store: Path) -> None:
    result = warden("agents", "credentials", "issue", AP, "--jwt", "--audience", "billing")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["kind"] == "jwt" and body["spiffe_id"] == AP
    payload = body["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == AP and claims["aud"] == ["billing"]


def test_issue_json_with_out_prints_no_secret(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    result = warden("agents", "credentials", "issue", AP, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["spiffe_id"] == AP and "private_key" not in summary
    assert sorted(Path(p).name for p in summary["files"]) == ["bundle.pem", "svid.key", "svid.pem"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((OLD,), "is suspended: only active agents get credentials"),
        (("spiffe://acme.example/agent/nobody",), "is registered"),
        ((AP, "--x509", "--jwt"), "choose one of --x509 and --jwt"),
        ((AP, "--jwt"), "a jwt-svid needs --audience"),
    ],
)
def test_issue_refuses_with_one_line(
    store: Path, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    out = tmp_path / "creds"
    assert_refused(warden("agents", "credentials", "issue", *args, "--out", str(out)), needle)
    assert not (out / "svid.key").exists()


def test_issue_refuses_an_agent_outside_the_trust_domain(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_TRUST_DOMAIN", "other.example")
    assert_refused(
        warden("agents", "credentials", "issue", AP), "is not warden's trust domain `other"
    )


# -- over HTTP -----------------------------------------------------------------------------------


def agent(agent_id: str, status: AgentStatus) -> Agent:
    now = datetime.now(UTC)
    return Agent(agent_id, "AP", "ana@acme.example", "finance", status, RiskTier.LOW, now, now)


def server_app(authority: SvidAuthority) -> FastAPI:
    """The registry's read route and the SPIFFE routes, as `warden serve` will have them."""
    agents = {AP: agent(AP, AgentStatus.ACTIVE), OLD: agent(OLD, AgentStatus.SUSPENDED)}
    admin = AdminAuth(TOKEN)

    def active(agent_id: str) -> bool:
        found = agents.get(agent_id)
        return found is not None and found.status is AgentStatus.ACTIVE

    server = FastAPI()
    server.include_router(svid_router(lambda: authority, admin, active))

    @server.get("/v1/agents/{agent_id:path}", dependencies=[Depends(admin)])
    async def get_agent(agent_id: str) -> Any:
        found = agents.get(agent_id)
        if found is None:
            body = {"error": "agent_not_found", "message": f"agent `{agent_id}` is not registered"}
            return JSONResponse(body, status_code=404)
        return found.to_dict()

    return server


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("WARDEN_URL", "WARDEN_ADMIN_TOKEN", "WARDEN_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WARDEN_TOKEN", TOKEN)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    authority = asyncio.run(_authority(f"sqlite:///{tmp_path / 'server.db'}"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        server_app(authority), host="127.0.0.1", port=port, log_level="error", lifespan="off"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.started
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


async def _authority(url: str) -> SvidAuthority:
    parsed = parse_database_url(url)
    await asyncio.to_thread(migrate, parsed)
    engine = open_engine(parsed)
    try:
        return await SvidAuthority.open(engine, TD, datetime.now(UTC))
    finally:
        await engine.dispose()


def test_issue_over_http_writes_verifiable_files(server: str, tmp_path: Path) -> None:
    out = tmp_path / "creds"
    result = warden("agents", "credentials", "issue", AP, "--url", server, "--out", str(out))
    assert result.exit_code == 0, result.output
    verify_files(out)


def test_issue_over_http_prints_a_jwt_svid(server: str) -> None:
    result = warden(
        "agents", "credentials", "issue", AP, "--url", server, "--jwt", "--audience", "billing",
        "--ttl", "60",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["spiffe_id"] == AP


@pytest.mark.parametrize(
    ("agent_id", "needle"),
    [
        (OLD, "is suspended"),
        ("spiffe://acme.example/agent/nobody", "is not registered"),
    ],
)
def test_issue_over_http_refuses_inactive_or_unknown_agents(
    server: str, agent_id: str, needle: str
) -> None:
    assert_refused(warden("agents", "credentials", "issue", agent_id, "--url", server), needle)


def test_issue_over_http_without_the_admin_token_is_refused(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_TOKEN", "wrong")
    assert_refused(warden("agents", "credentials", "issue", AP, "--url", server), "(401)")
