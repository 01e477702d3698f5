"""The SPIFFE routes over HTTP: the public bundle and admin-issued credentials.

The router is mounted on a small FastAPI app with the real admin dependency; the issuer's keys
live in a real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from spiffe import JwtBundle, JwtSvid, TrustDomain
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.server.auth import AdminAuth
from warden.store.schema import signing_keys
from warden.tokens.svid import SvidAuthority
from warden.tokens.svid_api import svid_router

TD = "acme.example"
AGENT = "spiffe://acme.example/agent/ap-clerk"
SUSPENDED = "spiffe://acme.example/agent/old-bot"
OUTSIDER = "spiffe://other.example/agent/x"
TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def authority(engine: AsyncEngine) -> SvidAuthority:
    return await SvidAuthority.open(engine, TD, datetime.now(UTC))


@pytest.fixture
def issued_events() -> list[Mapping[str, Any]]:
    return []


@pytest.fixture
async def client(
    authority: SvidAuthority, issued_events: list[Mapping[str, Any]]
) -> AsyncIterator[httpx.AsyncClient]:
    active = {AGENT, OUTSIDER}  # OUTSIDER: registered, but not in Warden's trust domain

    async def agent_exists(agent_id: str) -> bool:  # async, as a registry lookup is
        return agent_id in active

    async def record(event: Mapping[str, Any]) -> None:
        issued_events.append(event)

    app = FastAPI()
    app.include_router(
        svid_router(lambda: authority, AdminAuth(TOKEN), agent_exists, on_issued=record)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://warden.test") as client:
        yield client


def credentials_path(agent_id: str) -> str:
    return f"/v1/agents/{agent_id}/credentials"


async def test_the_bundle_is_public_json_that_py_spiffe_reads(
    client: httpx.AsyncClient, authority: SvidAuthority
) -> None:
    response = await client.get("/v1/spiffe/bundle")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == authority.bundle()
    jwt_keys = {"keys": [k for k in body["keys"] if k["use"] == "jwt-svid"]}
    bundle = JwtBundle.parse(TrustDomain(TD), orjson.dumps(jwt_keys))
    token = authority.mint_jwt_svid(AGENT, ["billing"], datetime.now(UTC))
    assert str(JwtSvid.parse_and_validate(token, bundle, {"billing"}).spiffe_id) == AGENT


async def test_issuing_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.post(
            credentials_path(AGENT), json={"kind": "x509"}, headers=headers
        )
        assert response.status_code == 401
        assert "private_key" not in response.text


async def test_an_x509_svid_is_issued_once_with_its_key_and_never_stored(
    client: httpx.AsyncClient,
    authority: SvidAuthority,
    engine: AsyncEngine,
    issued_events: list[Mapping[str, Any]],
) -> None:
    response = await client.post(
        credentials_path(AGENT), json={"kind": "x509", "ttl": 900}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["kind"] == "x509" and body["spiffe_id"] == AGENT
    assert authority.verify_x509_svid(body["certificate"], datetime.now(UTC)) == AGENT
    key = serialization.load_pem_private_key(body["private_key"].encode(), password=None)
    leaf = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert key.public_key() == leaf.public_key()
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 900 + 10
    assert body["bundle"] == authority.bundle_pem()

    async with engine.connect() as conn:
        stored = (await conn.execute(select(signing_keys.c.private_key))).scalars().all()
    assert body["private_key"] not in stored
    (event,) = issued_events
    assert event["spiffe_id"] == AGENT and event["kind"] == "x509"
    assert event["serial"] == format(leaf.serial_number, "x")
    assert "PRIVATE KEY" not in orjson.dumps(event).decode()


async def test_a_jwt_svid_is_issued_for_its_audience(
    client: httpx.AsyncClient, authority: SvidAuthority, issued_events: list[Mapping[str, Any]]
) -> None:
    response = await client.post(
        credentials_path(AGENT), json={"kind": "jwt", "audience": ["billing"]}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    body = response.json()
    now = int(datetime.now(UTC).timestamp())
    claims = authority.verify_jwt_svid(body["token"], "billing", now)
    assert claims["sub"] == AGENT
    assert claims["exp"] - claims["iat"] == 300
    assert issued_events == [
        {
            "kind": "jwt",
            "spiffe_id": AGENT,
            "expires_at": body["expires_at"],
            "audience": ["billing"],
        }
    ]


@pytest.mark.parametrize(
    ("agent_id", "body", "status", "needle"),
    [
        ("spiffe://acme.example/agent/nobody", {"kind": "x509"}, 404, "no active agent"),
        (SUSPENDED, {"kind": "jwt", "audience": ["a"]}, 404, "no active agent"),
        (AGENT, {"kind": "jwt"}, 400, "needs at least one audience"),
        (AGENT, {"kind": "jwt", "audience": ["a"], "ttl": 2 * 86400}, 400, "ttl must be between"),
        (AGENT, {"kind": "x509", "ttl": 30 * 86400}, 422, "less than or equal"),
        (OUTSIDER, {"kind": "x509"}, 400, "is not warden's trust domain"),
        (AGENT, {"kind": "pgp"}, 422, "x509"),
        (AGENT, {"kind": "x509", "ttl": 0}, 422, "ttl"),
        (AGENT, {"kind": "x509", "extra": 1}, 422, "extra"),
    ],
)
async def test_refusals_say_why_and_issue_nothing(
    client: httpx.AsyncClient,
    issued_events: list[Mapping[str, Any]],
    agent_id: str,
    body: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    response = await client.post(credentials_path(agent_id), json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    assert needle in response.text
    assert "PRIVATE KEY" not in response.text
    assert issued_events == []
