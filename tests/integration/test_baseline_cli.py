"""``warden baseline`` on a local store and against a running server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import LiveServer
from warden.behavior import BehaviorService
from warden.cli.main import app
from warden.sessions.facts import ActionFacts
from warden.store.db import migrate, open_engine, parse_database_url

ADMIN = "test-admin-token-0123456789"
AGENT = "spiffe://acme.example/agent/ap-clerk"
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class _Sink:
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        pass


def warden(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def _learn(service: BehaviorService) -> None:
    """Four days of reading and approving invoices, mailing two vendors."""
    for n in range(400):
        tool = ("read_invoice", "approve_invoice", "send_email")[n % 3]
        at = MONDAY + timedelta(days=n // 100, minutes=5 * (n % 100))
        vendor = f"vendor{n % 2}.example"
        service.learn(
            ActionFacts(
                AGENT, "", tool, at, False, False, tool == "send_email", frozenset(), tool, None,
                (("amount", 100.0 + n),) if tool == "approve_invoice" else (),
                (f"ap@{vendor}",) if tool == "send_email" else (),
                (vendor,) if tool == "send_email" else (),
                0, at.weekday() * 24 + at.hour,
            ),
            None,
            None,
        )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    monkeypatch.setenv("WARDEN_DATABASE_URL", url)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    parsed = parse_database_url(url)
    migrate(parsed)

    async def seed() -> None:
        engine = open_engine(parsed)
        service = BehaviorService(engine, _Sink())
        _learn(service)
        await service.flush(MONDAY)
        await engine.dispose()

    asyncio.run(seed())
    return url


def test_show_freeze_reset_on_the_local_store(store: str) -> None:
    shown = ok(warden("baseline", "show", AGENT))
    assert "warm" in shown and "400 actions over 3.3 days" in shown
    assert "read_invoice 34%" in shown and "vendor0.example" in shown and "@" not in shown
    body = json.loads(ok(warden("baseline", "show", AGENT, "--json")))
    assert body["actions"] == 400 and body["frozen"] is False

    assert "froze" in ok(warden("baseline", "freeze", AGENT, "--reason", "incident 9"))
    assert json.loads(ok(warden("baseline", "show", AGENT, "--json")))["frozen"] is True
    ok(warden("baseline", "unfreeze", AGENT))
    assert json.loads(ok(warden("baseline", "show", AGENT, "--json")))["frozen"] is False

    declined = warden("baseline", "reset", AGENT, input="n\n")
    assert declined.exit_code != 0 and "nothing reset" in declined.output
    assert json.loads(ok(warden("baseline", "show", AGENT, "--json")))["actions"] == 400
    ok(warden("baseline", "reset", AGENT, "--yes"))
    gone = warden("baseline", "show", AGENT)
    assert gone.exit_code != 0 and f"no baseline learned for agent `{AGENT}`" in gone.output
    tail = ok(warden("audit", "tail", "--json"))
    for event in ("baseline:frozen", "baseline:unfrozen", "baseline:reset"):
        assert event in tail
    assert "incident 9" in tail


def test_show_and_freeze_against_a_running_server(
    live_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = live_server(ADMIN)
    assert server.runtime is not None
    behavior = server.runtime.behavior

    async def learn() -> None:
        _learn(behavior)

    server.call(learn())
    monkeypatch.setenv("WARDEN_TOKEN", ADMIN)
    shown = json.loads(ok(warden("baseline", "show", AGENT, "--url", server.url, "--json")))
    assert shown["warm"] is True and shown["actions"] == 400
    ok(warden("baseline", "freeze", AGENT, "--url", server.url))
    assert behavior.show(AGENT)["frozen"] is True
    nobody = "spiffe://acme.example/agent/nobody"
    missing = warden("baseline", "freeze", nobody, "--url", server.url)
    assert missing.exit_code != 0 and "no baseline learned" in missing.output
