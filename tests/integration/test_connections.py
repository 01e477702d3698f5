"""Connections: the admin API (``/v1/connections``) on a live Warden, and their secrets at rest
on SQLite and PostgreSQL — encrypted in the row, rotated by ``rekey``, and a dropped key
reported as ``secrets_unavailable`` instead of a crash."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.gateway.connections.crypto import ENV, SecretBox, key_id
from warden.gateway.connections.errors import SecretsUnavailable
from warden.gateway.connections.models import AuthKind, Connection, Protocol, Route
from warden.gateway.connections.service import ConnectionService
from warden.gateway.connections.store import SqlConnectionStore
from warden.store.schema import gateway_connections

if TYPE_CHECKING:  # the fixture's type; importing conftest at run time is fragile
    from conftest import LiveServer

TOKEN = "connections-admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "sk_live_7Hq2-very-secret-api-key"
ERP = {
    "name": "erp",
    "protocol": "http",
    "url": "https://erp.acme.example/api",
    "auth": "api_key",
    "params": {"header": "X-Api-Key"},
    "routes": [
        {"method": "GET", "template": "/invoices/{id}", "tool": "erp.invoice.read"},
        {"method": "POST", "template": "/payments", "tool": "payments.transfer"},
    ],
    "limits": {"timeout": 5, "max_request_bytes": 4096, "max_response_bytes": 65536},
    "secret": SECRET,
}


@pytest.fixture
def api(live_server: Callable[..., LiveServer]) -> Iterator[tuple[LiveServer, httpx.Client]]:
    server = live_server(TOKEN)
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=20) as http:
        yield server, http


def test_a_connection_is_created_read_replaced_and_deleted_and_its_secret_never_comes_back(
    api: tuple[LiveServer, httpx.Client],
) -> None:
    server, http = api
    runtime = server.runtime
    assert runtime is not None
    created = http.post("/v1/connections", json=ERP)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["has_secret"] is True and body["key_id"] == runtime.connections.box.key_id
    assert "secret" not in body and body["limits"]["timeout"] == 5
    assert [r["tool"] for r in body["routes"]] == ["erp.invoice.read", "payments.transfer"]
    # What the gateway injects upstream is the secret sent, decrypted again.
    connection = server.call(runtime.connections.get("erp"))
    assert runtime.connections.static_headers(connection) == {"X-Api-Key": SECRET}

    listed, shown = http.get("/v1/connections"), http.get("/v1/connections/erp")
    assert [c["name"] for c in listed.json()["connections"]] == ["erp"]
    assert shown.json()["url"] == ERP["url"]

    # Replacing without a secret keeps the stored one; with one, it changes.
    kept = http.put("/v1/connections/erp", json={**shown.json(), "description": "the ERP"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["has_secret"] is True and kept.json()["description"] == "the ERP"
    connection = server.call(runtime.connections.get("erp"))
    assert runtime.connections.static_headers(connection) == {"X-Api-Key": SECRET}
    renewed = http.put("/v1/connections/erp", json={**ERP, "secret": "sk_live_rotated"})
    assert renewed.status_code == 200, renewed.text
    assert runtime.connections.secret("erp") == "sk_live_rotated"

    # An MCP server's tools are named `<name>.<tool>` unless told otherwise.
    mcp = {"name": "docs", "protocol": "mcp", "url": "http://127.0.0.1:9/mcp"}
    assert http.post("/v1/connections", json=mcp).json()["tool_prefix"] == "docs."

    assert http.delete("/v1/connections/erp").json() == {"deleted": "erp"}
    gone = http.get("/v1/connections/erp")
    assert gone.status_code == 404 and gone.json()["error"] == "connection_not_found"
    assert http.delete("/v1/connections/erp").status_code == 404

    responses = [created, listed, shown, kept, renewed]
    assert not any(s in r.text for r in responses for s in (SECRET, "sk_live_rotated"))
    entries = http.get("/v1/audit/entries", params={"limit": 1000}).json()["entries"]
    events = [e["event_type"] for e in entries if e["event_type"].startswith("connection:")]
    assert events == [
        "connection:created",
        "connection:updated",
        "connection:updated",
        "connection:created",
        "connection:deleted",
    ]
    ledger = json.dumps(entries)
    assert SECRET not in ledger and "sk_live_rotated" not in ledger


UNWORKABLE: list[tuple[dict[str, Any], str, str]] = [
    ({"secret": None}, "secret", "needs a secret"),
    ({"routes": []}, "routes", "at least one route"),
    ({"params": {"client_secret": "x"}}, "params.client_secret", "a secret goes in `secret`"),
    ({"url": "ftp://erp.example"}, "url", "http:// or https://"),
    ({"url": "https://user:pw@erp.example"}, "url", "must not hold credentials"),
    (
        {"routes": [{"method": "GET", "template": "/a/{x:path}/b", "tool": "t.x"}]},
        "routes.0.template",
        "only at its end",
    ),
    (
        {"routes": [{"method": "FETCH", "template": "/a", "tool": "t.x"}]},
        "routes.0.method",
        "not one of",
    ),
    (
        {"auth": "oauth_client_credentials", "params": {"client_id": "c"}},
        "params.token_url",
        "needs `params.token_url`",
    ),
    ({"protocol": "ftp"}, "protocol", "http"),
    ({"limits": {"timeout": 0}}, "limits.timeout", "0-3600"),
    ({"secret": "two\nlines"}, "secret", "one line"),
    ({"protocol": "mcp", "routes": ERP["routes"]}, "routes", "for http connections"),
]


def test_an_unworkable_connection_is_refused_naming_the_field(
    api: tuple[LiveServer, httpx.Client],
) -> None:
    _, http = api
    for change, field, words in UNWORKABLE:
        refused = http.post("/v1/connections", json={**ERP, **change})
        assert refused.status_code == 400, (change, refused.text)
        assert refused.json()["field"] == field, (change, refused.text)
        assert words in refused.json()["message"], (change, refused.text)
        assert SECRET not in refused.text
    assert http.get("/v1/connections").json()["connections"] == []
    renamed = {**{k: v for k, v in ERP.items() if k != "name"}, "name": "other"}
    assert http.post("/v1/connections", json=ERP).status_code == 201
    moved = http.put("/v1/connections/erp", json=renamed)
    assert moved.status_code == 400 and moved.json()["field"] == "name"


def test_a_taken_name_an_unknown_one_and_no_admin_token_are_refused(
    api: tuple[LiveServer, httpx.Client],
) -> None:
    server, http = api
    assert http.post("/v1/connections", json=ERP).status_code == 201
    taken = http.post("/v1/connections", json=ERP)
    assert taken.status_code == 409 and taken.json()["error"] == "connection_exists"
    unknown = http.put("/v1/connections/nope", json={k: v for k, v in ERP.items() if k != "name"})
    assert unknown.status_code == 404
    anonymous = httpx.get(f"{server.url}/v1/connections")
    assert anonymous.status_code == 401
    wrong = httpx.post(f"{server.url}/v1/connections/rekey", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401


def test_rekey_through_the_api_moves_every_secret_to_the_first_key(
    api: tuple[LiveServer, httpx.Client],
) -> None:
    server, http = api
    runtime = server.runtime
    assert runtime is not None
    assert http.post("/v1/connections", json=ERP).status_code == 201
    old = runtime.connections.box
    assert http.post("/v1/connections/rekey").json() == {"rekeyed": [], "key_id": old.key_id}
    new = Fernet.generate_key()
    runtime.connections.box = SecretBox([new, *old._keys])  # as after a restart with both keys
    rekeyed = http.post("/v1/connections/rekey")
    assert rekeyed.json() == {"rekeyed": ["erp"], "key_id": key_id(new)}
    assert http.get("/v1/connections/erp").json()["key_id"] == key_id(new)
    runtime.connections.box = SecretBox([Fernet.generate_key()])  # both keys dropped
    server.call(runtime.connections.load())
    lost = http.post("/v1/connections/rekey")
    assert lost.status_code == 503 and lost.json()["error"] == "secrets_unavailable"
    assert "`erp`" in lost.json()["message"] and SECRET not in lost.text


# -- secrets at rest, on each store --------------------------------------------------------------


class Ledger:
    def __init__(self) -> None:
        self.events: list[tuple[str, Mapping[str, Any]]] = []

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.events.append((event_type, payload))


NOW = datetime(2025, 3, 1, tzinfo=UTC)
API_KEY = Connection(
    name="erp",
    protocol=Protocol.HTTP,
    url="https://erp.acme.example/api",
    auth=AuthKind.API_KEY,
    params={"header": "X-Api-Key"},
    routes=(Route("GET", "/invoices/{id}", "erp.invoice.read"),),
)
BASIC = Connection(
    name="crm",
    protocol=Protocol.HTTP,
    url="https://crm.acme.example",
    auth=AuthKind.BASIC,
    params={"username": "warden"},
    routes=(Route("*", "/{rest:path}", "crm.any"),),
)


async def _service(engine: AsyncEngine, keys: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A connection service as a (re)started Warden has it, with ``WARDEN_SECRET_KEYS``."""
    monkeypatch.setenv(ENV, keys)
    service = ConnectionService(
        SqlConnectionStore(engine), Ledger(), SecretBox.configured(database_path=None)
    )
    await service.load()
    return service


async def _raw_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(gateway_connections))).all()
    return [repr(tuple(row)) for row in rows]


async def test_secrets_are_encrypted_at_rest_and_survive_a_key_rotation(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    service = await _service(engine, first, monkeypatch)
    await service.create(API_KEY, SECRET, actor="admin", now=NOW)
    await service.create(BASIC, "crm-password-42", actor="admin", now=NOW)
    rows = await _raw_rows(engine)
    assert len(rows) == 2 and not any(SECRET in r or "crm-password-42" in r for r in rows)
    assert not any(first in r for r in rows)  # nor the key

    # A new key in front: old secrets still decrypt; rekey moves them under it.
    service = await _service(engine, f"{second},{first}", monkeypatch)
    assert service.secret("erp") == SECRET
    assert sorted(await service.rekey(actor="admin", now=NOW)) == ["crm", "erp"]
    assert await _raw_rows(engine) != rows
    assert {c.key_id for c in service.list()} == {key_id(second.encode())}

    # The old key dropped: everything still decrypts.
    service = await _service(engine, second, monkeypatch)
    assert service.static_headers(await service.get("erp")) == {"X-Api-Key": SECRET}
    assert service.secret("crm") == "crm-password-42"
    assert await service.rekey(actor="admin", now=NOW) == []


async def test_a_dropped_key_is_a_clear_error_and_changes_nothing(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await _service(engine, Fernet.generate_key().decode(), monkeypatch)
    await service.create(API_KEY, SECRET, actor="admin", now=NOW)
    before = await _raw_rows(engine)

    service = await _service(engine, Fernet.generate_key().decode(), monkeypatch)
    assert [c.name for c in service.list()] == ["erp"]  # listing needs no key
    with pytest.raises(SecretsUnavailable, match="no configured key decrypts"):
        service.static_headers(await service.get("erp"))
    with pytest.raises(SecretsUnavailable) as refused:
        await service.rekey(actor="admin", now=NOW)
    assert "`erp`" in refused.value.message and "WARDEN_SECRET_KEYS" in refused.value.message
    assert await _raw_rows(engine) == before


async def test_without_any_key_a_secret_is_refused_not_stored_in_clear(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    service = ConnectionService(SqlConnectionStore(engine), Ledger(), SecretBox.configured(None))
    with pytest.raises(SecretsUnavailable, match="WARDEN_SECRET_KEYS"):
        await service.create(API_KEY, SECRET, actor="admin", now=NOW)
    assert await _raw_rows(engine) == []
