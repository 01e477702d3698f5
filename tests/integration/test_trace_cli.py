"""``warden trace`` and ``warden chains`` on a local SQLite store, and the accountability
routes over HTTP with the real admin dependency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from chain_ledger import ALICE, CHAIN, PAYER, PLANNER, Story, write_story
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from warden.access.models import Principal, Role
from warden.chains.api import accountability_error_response, chains_router
from warden.chains.queries import Accountability, AccountabilityError
from warden.cli.main import app
from warden.server.auth import AdminAuth
from warden.store.db import migrate, open_engine, parse_database_url

TOKEN = "test-admin-token"


def warden(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    url = f"sqlite:///{tmp_path / 'warden.db'}"
    monkeypatch.setenv("WARDEN_DATABASE_URL", url)
    monkeypatch.setenv("WARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("WARDEN_URL", "WARDEN_TOKEN", "WARDEN_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    parsed = parse_database_url(url)
    migrate(parsed)

    async def seed() -> Story:
        engine = open_engine(parsed)
        try:
            return await write_story(engine, url)
        finally:
            await engine.dispose()

    return asyncio.run(seed())


def test_trace_prints_person_agents_and_action_with_reasons(story: Story) -> None:
    out = ok(warden("trace", story.decisions["pay_denied"]))
    lines = out.splitlines()
    assert ALICE in lines[0] and CHAIN in lines[0]
    order = [out.index(s) for s in (PLANNER, "hop 1", PAYER, "action pay_invoice", "DENY")]
    assert order == sorted(order)
    assert "amount `900` above the hop's 500" in out
    assert "pay_invoice.amount ≤ 500" in out and "revoked at" in out


def test_trace_json_and_unknown_decision(story: Story) -> None:
    body = orjson.loads(ok(warden("trace", story.decisions["bob"], "--json")))
    assert body["person"] == "bob@acme.example" and body["chain_id"] == ""
    result = warden("trace", "dec_missing")
    assert result.exit_code == 1
    assert "no decision `dec_missing` in the ledger" in result.output


def test_chains_show_blast_radius_and_person(story: Story) -> None:
    tree = ok(warden("chains", "show", CHAIN))
    assert tree.index("planner") < tree.index("booker") < tree.index("payer")
    assert "step_up 1 deny 1" in tree and "revoked hop_2" in tree
    radius = ok(warden("chains", "blast-radius", CHAIN))
    assert "book_flight" in radius and "airline.example" in radius
    assert "denied: 1 (pay_invoice 1)" in radius and "held: 1 (pay_invoice 1)" in radius
    window = ("--from", "2026-11-02T09:04:00Z", "--to", "2026-11-02T09:05:00Z")
    person = ok(warden("chains", "person", ALICE, *window))
    assert "search_flights" in person and "book_flight" in person and "pay_invoice" not in person


def test_bad_time_ranges_are_refused_with_a_clear_message(story: Story) -> None:
    backwards = warden("chains", "person", ALICE, "--from", "2026-11-03T00:00Z",
                       "--to", "2026-11-02T00:00Z")  # fmt: skip
    assert backwards.exit_code == 1 and "is after `to`" in backwards.output
    garbled = warden("chains", "person", ALICE, "--from", "yesterday")
    assert garbled.exit_code == 1 and "invalid --from `yesterday`" in garbled.output


def _auditor(token: str) -> Principal | None:
    return Principal("audrey", frozenset({Role.AUDITOR})) if token == "auditor-token" else None


@pytest.fixture
async def client(engine: AsyncEngine, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    story = await write_story(engine, database_url)
    api = FastAPI()
    queries = Accountability(story.ledger, story.hops)
    api.include_router(chains_router(queries, AdminAuth(TOKEN, people=_auditor)))

    @api.exception_handler(AccountabilityError)
    async def _error(request: Request, exc: AccountabilityError) -> JSONResponse:
        return accountability_error_response(exc)

    headers = {"Authorization": "Bearer auditor-token"}
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://w", headers=headers) as c:
        c.headers["x-decision"] = story.decisions["pay_held"]
        yield c


async def test_http_routes_answer_auditors_and_map_errors(client: httpx.AsyncClient) -> None:
    trace = await client.get(f"/v1/decisions/{client.headers['x-decision']}/trace")
    assert trace.status_code == 200 and trace.json()["action"]["outcome"] == "step_up"
    assert (await client.get(f"/v1/chains/{CHAIN}")).json()["hops"] == 4
    assert (await client.get(f"/v1/chains/{CHAIN}/blast-radius")).json()["held"]["total"] == 1
    actions = await client.get(f"/v1/people/{ALICE}/actions", params={"limit": 2})
    assert [a["kind"] for a in actions.json()["actions"]] == ["delegation", "delegation"]
    missing = await client.get("/v1/chains/chn_missing")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_chain"
    backwards = {"from": "2026-11-03T00:00:00Z", "to": "2026-11-02T00:00:00Z"}
    bad = await client.get(f"/v1/people/{ALICE}/actions", params=backwards)
    assert bad.status_code == 400 and "is after `to`" in bad.json()["message"]
    garbled = await client.get(f"/v1/people/{ALICE}/actions", params={"from": "soon"})
    assert garbled.status_code == 400 and "not an iso 8601 time" in garbled.json()["message"]
    anonymous = await client.get(f"/v1/chains/{CHAIN}", headers={"Authorization": ""})
    assert anonymous.status_code == 401
