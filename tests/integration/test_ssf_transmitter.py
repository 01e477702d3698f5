"""Warden's Shared Signals transmitter against an independent receiver.

Warden's SSF routes and JWKS run under uvicorn on loopback; the receiver is a separate
Starlette app under uvicorn that fetches Warden's JWKS over HTTP and verifies every SET with
joserfc (signature, ``typ``, ``iss``, ``aud``, no ``sub``/``exp``) before answering 202, as an
RFC 8935 receiver does. Streams are managed through the HTTP API, as a receiver would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from warden.server.auth import AdminAuth
from warden.ssf import events
from warden.ssf.api import ssf_error_response, ssf_router
from warden.ssf.errors import SsfError
from warden.ssf.set import agent_subject, person_subject, session_subject
from warden.ssf.transmitter import SsfTransmitter
from warden.tokens.keys import KeyRing
from warden.tokens.store.sql import SqlKeyStore

ADMIN = "test-admin-token"
AUTH = {"authorization": f"Bearer {ADMIN}"}
RECEIVER_SECRET = "Bearer receiver-s3cret"
AGENT = "spiffe://acme.example/agent/clerk"
FAST: Callable[[int], float] = lambda attempt: 0.01  # noqa: E731 (backoff in tests)


def listening() -> socket.socket:
    """A bound, listening loopback socket: connections queue until the server runs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    sock = listening()
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Receiver:
    """An RFC 8935 push endpoint that trusts nothing it cannot verify."""

    issuer: str
    audience: str
    failures: int = 0  # answer 503 this many times first (the receiver is down)
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    attempted: asyncio.Event = field(default_factory=asyncio.Event)

    async def push(self, request: StarletteRequest) -> Response:
        self.attempts += 1
        self.attempted.set()
        if self.failures > 0:
            self.failures -= 1
            return Response(status_code=503)
        if request.headers.get("content-type") != "application/secevent+jwt":
            return JSONResponse({"err": "invalid_request"}, status_code=400)
        try:
            claims = await self.verify((await request.body()).decode())
        except Exception as exc:  # the receiver says why, and the test sees it
            self.rejected.append(repr(exc))
            return JSONResponse({"err": "invalid_key", "description": "bad"}, status_code=400)
        self.received.append(claims)
        self.authorizations.append(request.headers.get("authorization"))
        return Response(status_code=202)

    async def verify(self, token: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            jwks = (await client.get(f"{self.issuer}/.well-known/jwks.json")).json()
        verified = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
        claims: dict[str, Any] = json.loads(verified.payload)
        assert verified.protected["typ"] == "secevent+jwt"
        assert claims["iss"] == self.issuer
        assert self.audience in (
            [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
        )
        assert "sub" not in claims and "exp" not in claims and len(claims["events"]) == 1
        return claims

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/events", self.push, methods=["POST"])])


@dataclass
class Ledger:
    """The audit boundary: what the transmitter asks to record."""

    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.entries.append((event_type, dict(payload)))


@dataclass
class Setup:
    warden: str
    http: httpx.AsyncClient
    transmitter: SsfTransmitter
    receiver: Receiver
    receiver_url: str
    keys: KeyRing
    engine: AsyncEngine
    ledger: Ledger

    def transmitter_again(self) -> SsfTransmitter:
        """A second Warden process on the same store (a restart)."""
        return SsfTransmitter(
            self.engine, self.keys, issuer=self.warden, audit=self.ledger, backoff=FAST
        )

    async def push_stream(self, **extra: Any) -> dict[str, Any]:
        body = {
            "delivery": {
                "method": "urn:ietf:rfc:8935",
                "endpoint_url": f"{self.receiver_url}/events",
                "authorization_header": RECEIVER_SECRET,
            },
            "aud": "https://receiver.example",
            **extra,
        }
        response = await self.http.post("/ssf/streams", json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def poll(self, stream_id: str, **body: Any) -> dict[str, Any]:
        response = await self.http.post(f"/ssf/poll/{stream_id}", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def warden_app(transmitter: SsfTransmitter, keys: KeyRing) -> FastAPI:
    """Warden's SSF routes and JWKS, wired as the server wires them."""
    app = FastAPI()
    app.include_router(ssf_router(transmitter, AdminAuth(ADMIN)))

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return keys.jwks(datetime.now(UTC))

    @app.exception_handler(SsfError)
    async def ssf_error(_: Request, exc: SsfError) -> Any:
        return ssf_error_response(exc)

    return app


@pytest.fixture
async def setup(engine: AsyncEngine) -> AsyncIterator[Setup]:
    keys = KeyRing(SqlKeyStore(engine), max_token_lifetime=3600)
    await keys.load(datetime.now(UTC))
    sock = listening()  # Warden's address is its issuer, known before it starts
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ledger = Ledger()
    transmitter = SsfTransmitter(engine, keys, issuer=issuer, audit=ledger, backoff=FAST)
    server = uvicorn.Server(uvicorn.Config(warden_app(transmitter, keys), log_level="warning"))
    warden_task = asyncio.create_task(server.serve(sockets=[sock]))
    receiver = Receiver(issuer, "https://receiver.example")
    async with serve(receiver.app()) as receiver_url, httpx.AsyncClient(base_url=issuer) as http:
        await transmitter.start()
        yield Setup(issuer, http, transmitter, receiver, receiver_url, keys, engine, ledger)
        await transmitter.close()
    server.should_exit = True
    await warden_task
    sock.close()


def event_of(claims: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    [(event_type, event)] = claims["events"].items()
    return event_type, event


async def test_discovery_names_the_endpoints_and_is_public(setup: Setup) -> None:
    response = await setup.http.get("/.well-known/ssf-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == setup.warden and config["spec_version"] == "1_0"
    assert config["jwks_uri"] == f"{setup.warden}/.well-known/jwks.json"
    assert config["delivery_methods_supported"] == ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]
    assert config["configuration_endpoint"] == f"{setup.warden}/ssf/streams"
    assert config["status_endpoint"] == f"{setup.warden}/ssf/status"
    assert config["verification_endpoint"] == f"{setup.warden}/ssf/verify"
    assert {"spec_urn": "urn:ietf:rfc:6749"} in config["authorization_schemes"]
    jwks = (await setup.http.get(config["jwks_uri"].removeprefix(setup.warden))).json()
    assert [k["kid"] for k in jwks["keys"]] == [setup.keys.current().kid]


async def test_pushed_events_arrive_signed_in_order_with_the_receivers_authorization(
    setup: Setup,
) -> None:
    stream = await setup.push_stream()
    assert stream["events_delivered"] == list(events.EVENTS_SUPPORTED)
    t = setup.transmitter
    assert await t.session_revoked(agent_subject(AGENT), "killed: exfiltration", txn="k1") == 1
    await t.credential_change(
        agent_subject(AGENT), "x509", "revoke", reason_admin="svid rotated", txn="r1"
    )
    await t.token_claims_change(
        person_subject("ann@acme.example"), {"entitlements": ["crm:read"]}, txn="e1"
    )
    await t.drain(10)
    r = setup.receiver
    assert not r.rejected
    assert [event_of(c)[0] for c in r.received] == [
        events.SESSION_REVOKED,
        events.CREDENTIAL_CHANGE,
        events.TOKEN_CLAIMS_CHANGE,
    ]
    assert [c["txn"] for c in r.received] == ["k1", "r1", "e1"]
    assert r.received[0]["sub_id"] == {"format": "uri", "uri": AGENT}
    assert event_of(r.received[0])[1]["reason_admin"] == {"en": "killed: exfiltration"}
    assert event_of(r.received[1])[1]["change_type"] == "revoke"
    assert r.authorizations == [RECEIVER_SECRET] * 3


async def test_push_is_retried_across_an_outage_and_nothing_is_lost(setup: Setup) -> None:
    await setup.push_stream()
    setup.receiver.failures = 3  # down for the first three attempts
    for n in range(3):
        await setup.transmitter.session_revoked(session_subject(f"ses_{n}"), f"kill {n}")
    await setup.transmitter.drain(10)
    received = [c["sub_id"]["id"] for c in setup.receiver.received]
    assert received == ["ses_0", "ses_1", "ses_2"]
    assert setup.receiver.attempts == 6 and not setup.receiver.rejected


async def test_pending_sets_are_delivered_after_a_restart(setup: Setup) -> None:
    stream = await setup.push_stream()
    await setup.transmitter.close()  # Warden stops while the receiver is down
    setup.receiver.failures = 1_000_000
    first = setup.transmitter_again()
    await first.start()
    await first.session_revoked(session_subject("ses_a"), "kill a")
    await first.session_revoked(session_subject("ses_b"), "kill b")
    await setup.receiver.attempted.wait()  # it tried, and failed
    await first.close()
    rows = await first.store.outbox(stream["stream_id"])
    assert [r["delivered_at"] for r in rows] == [None, None] and rows[0]["attempts"] >= 1
    assert "503" in rows[0]["last_error"]

    setup.receiver.failures = 0  # the receiver is back; a new Warden process starts
    second = setup.transmitter_again()
    await second.start()
    await second.drain(10)
    await second.close()
    assert [c["sub_id"]["id"] for c in setup.receiver.received] == ["ses_a", "ses_b"]


async def test_a_paused_stream_holds_events_and_a_disabled_one_drops_them(setup: Setup) -> None:
    stream_id = (await setup.push_stream())["stream_id"]
    paused = {"stream_id": stream_id, "status": "paused", "reason": "maintenance"}
    response = await setup.http.post("/ssf/status", json=paused, headers=AUTH)
    assert response.json() == paused
    await setup.transmitter.session_revoked(session_subject("held"), "kill")
    await setup.transmitter.drain(10)  # nothing pushable while paused
    assert setup.receiver.received == []

    enabled = {"stream_id": stream_id, "status": "enabled"}
    await setup.http.post("/ssf/status", json=enabled, headers=AUTH)
    await setup.transmitter.drain(10)
    assert [c["sub_id"]["id"] for c in setup.receiver.received] == ["held"]

    disabled = {"stream_id": stream_id, "status": "disabled"}
    await setup.http.post("/ssf/status", json=disabled, headers=AUTH)
    assert await setup.transmitter.session_revoked(session_subject("x"), "kill") == 0
    status = await setup.http.get("/ssf/status", params={"stream_id": stream_id}, headers=AUTH)
    assert status.json() == {"stream_id": stream_id, "status": "disabled"}


async def test_only_requested_events_are_sent(setup: Setup) -> None:
    requested = [events.SESSION_REVOKED, "urn:example:unknown"]
    stream = await setup.push_stream(events_requested=requested)
    assert stream["events_requested"] == requested
    assert stream["events_delivered"] == [events.SESSION_REVOKED]
    claims = {"role": "reader"}
    assert await setup.transmitter.token_claims_change(agent_subject(AGENT), claims) == 0
    assert await setup.transmitter.session_revoked(agent_subject(AGENT), "kill") == 1


async def test_verification_event_echoes_the_state(setup: Setup) -> None:
    stream_id = (await setup.push_stream())["stream_id"]
    body = {"stream_id": stream_id, "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo="}
    response = await setup.http.post("/ssf/verify", json=body, headers=AUTH)
    assert response.status_code == 204
    await setup.transmitter.drain(10)
    [claims] = setup.receiver.received
    assert event_of(claims) == (
        events.VERIFICATION,
        {
            "subject": {"format": "opaque", "id": stream_id},
            "state": body["state"],
        },
    )
    assert claims["sub_id"] == {"format": "opaque", "id": stream_id}
    missing = await setup.http.post("/ssf/verify", json={"stream_id": "nope"}, headers=AUTH)
    assert missing.status_code == 404


async def test_poll_returns_unacknowledged_sets_until_acknowledged(setup: Setup) -> None:
    response = await setup.http.post("/ssf/streams", json={"aud": "poller"}, headers=AUTH)
    stream = response.json()
    stream_id = stream["stream_id"]
    assert stream["delivery"] == {
        "method": "urn:ietf:rfc:8936",
        "endpoint_url": f"{setup.warden}/ssf/poll/{stream_id}",
    }
    for n in range(3):
        await setup.transmitter.session_revoked(session_subject(f"ses_{n}"), f"kill {n}")

    first = await setup.poll(stream_id, maxEvents=2, returnImmediately=True)
    assert first["moreAvailable"] is True and len(first["sets"]) == 2
    again = await setup.poll(stream_id, maxEvents=2, returnImmediately=True)
    assert again["sets"] == first["sets"]  # not acknowledged: returned again

    rest = await setup.poll(stream_id, ack=list(first["sets"]), returnImmediately=True)
    assert rest["moreAvailable"] is False and len(rest["sets"]) == 1
    poller = Receiver(setup.warden, "poller")
    subjects = [
        (await poller.verify(token))["sub_id"]["id"]
        for token in [*first["sets"].values(), *rest["sets"].values()]
    ]
    assert subjects == ["ses_0", "ses_1", "ses_2"]

    [last] = rest["sets"]
    errs = {last: {"err": "invalid_key", "description": "unknown kid"}}
    done = await setup.poll(stream_id, setErrs=errs, returnImmediately=True)
    assert done == {"sets": {}, "moreAvailable": False}


async def test_a_long_poll_returns_as_soon_as_an_event_is_queued(setup: Setup) -> None:
    response = await setup.http.post("/ssf/streams", json={"aud": "poller"}, headers=AUTH)
    stream_id = response.json()["stream_id"]
    waiting = asyncio.create_task(setup.poll(stream_id, returnImmediately=False))
    while not setup.transmitter.delivery.long_polls(stream_id):  # bounded by the test timeout
        await asyncio.sleep(0.005)
    await setup.transmitter.session_revoked(session_subject("ses_live"), "kill")
    # Woken by the emit: without the wake it would answer at the 5 s rescan at the earliest.
    result = await asyncio.wait_for(waiting, 3)
    [token] = result["sets"].values()
    claims = await Receiver(setup.warden, "poller").verify(token)
    assert claims["sub_id"]["id"] == "ses_live"


async def test_stream_management_over_http(setup: Setup) -> None:
    assert (await setup.http.post("/ssf/streams", json={})).status_code == 401
    stream = await setup.push_stream(description="crm receiver")
    stream_id = stream["stream_id"]
    assert stream["iss"] == setup.warden and stream["aud"] == "https://receiver.example"
    assert "authorization_header" not in stream["delivery"]  # write-only secret

    read = await setup.http.get("/ssf/streams", params={"stream_id": stream_id}, headers=AUTH)
    assert read.json() == stream
    listed = await setup.http.get("/ssf/streams", headers=AUTH)
    assert listed.json() == [stream]

    patch = {"stream_id": stream_id, "description": "renamed"}
    patched = (await setup.http.patch("/ssf/streams", json=patch, headers=AUTH)).json()
    assert patched["description"] == "renamed" and patched["delivery"] == stream["delivery"]
    wrong = {"stream_id": stream_id, "iss": "https://elsewhere"}
    refused = await setup.http.patch("/ssf/streams", json=wrong, headers=AUTH)
    assert refused.status_code == 400 and refused.json()["field"] == "iss"

    put = {
        "stream_id": stream_id,
        "delivery": stream["delivery"],
        "events_requested": [events.CREDENTIAL_CHANGE],
    }
    replaced = (await setup.http.put("/ssf/streams", json=put, headers=AUTH)).json()
    assert replaced["events_delivered"] == [events.CREDENTIAL_CHANGE]
    assert "description" not in replaced  # PUT: a missing member is removed

    # The authorization header survived the PATCH, not the PUT that left it out.
    await setup.transmitter.credential_change(
        agent_subject(AGENT), "x509", "update", reason_admin="svid rotated"
    )
    await setup.transmitter.drain(10)
    assert setup.receiver.authorizations == [None]

    deleted = await setup.http.delete("/ssf/streams", params={"stream_id": stream_id}, headers=AUTH)
    assert deleted.status_code == 204
    gone = await setup.http.get("/ssf/streams", params={"stream_id": stream_id}, headers=AUTH)
    assert gone.status_code == 404
    kinds = [kind for kind, _ in setup.ledger.entries]
    assert kinds == [
        "ssf:stream:created",
        "ssf:stream:updated",
        "ssf:stream:updated",
        "ssf:stream:deleted",
    ]
    assert RECEIVER_SECRET not in json.dumps(setup.ledger.entries)


async def test_bad_stream_requests_are_400(setup: Setup) -> None:
    bad = [
        {"delivery": {"method": "urn:example:carrier-pigeon"}},
        {"delivery": {"method": "urn:ietf:rfc:8935"}},  # push needs an endpoint
        {"events_requested": "not-a-list"},
    ]
    for body in bad:
        response = await setup.http.post("/ssf/streams", json=body, headers=AUTH)
        assert response.status_code == 400, body
