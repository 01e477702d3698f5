"""The Shared Signals receiver against an IdP in the test.

The IdP has its own RSA keys (joserfc) and serves its JWKS and an RFC 8936 poll endpoint from
a small Starlette app on a free loopback port. Warden's push endpoint runs in a FastAPI app.
``act`` is the boundary the kill switch plugs into: here it records whom it was asked to stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from joserfc import jws
from joserfc.jwk import KeySet, OctKey, RSAKey
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from conftest import PG_ADMIN_URL, free_port
from warden.ssf.receiver import (
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    ReceiverConfigError,
    Signal,
    SsfReceiver,
    Trusted,
    person_of,
    trusted_from_env,
)
from warden.ssf.receiver_api import receiver_router
from warden.store.db import migrate, open_engine, parse_database_url
from warden.store.schema import ssf_received

AUDIENCE = "https://warden.acme.example"
ISSUER = "https://idp.acme.example"
ANN = "ann@acme.example"
POLL_AUTH = "Bearer poll-s3cret"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"


class IdP:
    """An identity provider that signs SETs, serves its JWKS and queues SETs for polling."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.reset()

    def reset(self) -> None:
        """A new key and nothing fetched, queued or acknowledged yet."""
        self.key = RSAKey.generate_key(2048, auto_kid=True)
        self.jwks_fetches = 0
        self.jwks_down = False
        self.queue: dict[str, str] = {}  # jti -> SET, awaiting ack
        self.acked: list[str] = []
        self.set_errs: dict[str, Any] = {}
        self.poll_requests: list[dict[str, Any]] = []

    def rotate(self) -> None:
        self.key = RSAKey.generate_key(2048, auto_kid=True)

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: RSAKey | OctKey | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> str:
        key = key or self.key
        head = {"alg": "RS256", "typ": "secevent+jwt", **(header or {})}
        if key.kid is not None:
            head.setdefault("kid", key.kid)
        body = json.dumps(dict(claims))
        return jws.serialize_compact(head, body, key, algorithms=[head["alg"]])

    def event(
        self,
        event_type: str = SESSION_REVOKED,
        subject: Mapping[str, Any] | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """Claims of a CAEP SET (the shape of the CAEP 1.0 §3.1 example)."""
        payload: dict[str, Any] = {
            "event_timestamp": int(time.time()),
            "initiating_entity": "admin",
        }
        if event_type == SESSION_REVOKED:
            payload["reason_admin"] = {"en": "Landspeed Policy Violation: C076E82F"}
        if event_type == CREDENTIAL_CHANGE:
            payload |= {"credential_type": "fido2-roaming", "change_type": "create"}
        claims = {
            "iss": ISSUER,
            "jti": uuid.uuid4().hex,
            "iat": int(time.time()),
            "aud": [AUDIENCE, "https://other.example"],
            "txn": "8675309",
            "sub_id": subject or {"format": "email", "email": ANN},
            "events": {event_type: payload},
        }
        return claims | changes

    def trusted(self, **changes: Any) -> Trusted:
        settings: dict[str, Any] = {
            "issuer": ISSUER,
            "jwks_uri": f"{self.url}/jwks",
            "poll_url": f"{self.url}/poll",
            "authorization": POLL_AUTH,
        }
        return Trusted(**(settings | changes))

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/jwks", self._jwks), Route("/poll", self._poll, methods=["POST"])]
        )

    async def _jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        if self.jwks_down:
            return Response(status_code=503)
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def _poll(self, request: Request) -> Response:
        """RFC 8936 §2.4: acks and setErrs remove SETs; up to maxEvents are returned."""
        if request.headers.get("authorization") != POLL_AUTH:
            return Response(status_code=401)
        body = await request.json()
        self.poll_requests.append(body)
        for jti in body.get("ack", []):
            self.queue.pop(jti, None)
            self.acked.append(jti)
        for jti, err in body.get("setErrs", {}).items():
            self.queue.pop(jti, None)
            self.set_errs[jti] = err
        jtis = list(self.queue)[: body["maxEvents"]]
        more = len(self.queue) > len(jtis)
        return JSONResponse({"sets": {j: self.queue[j] for j in jtis}, "moreAvailable": more})


@dataclass
class KillSwitch:
    """The ``act`` boundary: records each signal; fails the next ``failures`` calls."""

    signals: list[Signal] = field(default_factory=list)
    failures: int = 0
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, signal: Signal) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the kill switch is down")
        self.signals.append(signal)
        self.called.set()
        return f"killed person {signal.person}: 2 mandates revoked\n1 agent stopped"

    @property
    def people(self) -> list[str | None]:
        return [s.person for s in self.signals]


@dataclass
class Ledger:
    """The audit sink: what the receiver asked to record."""

    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        self.entries.append((event_type, dict(payload)))


@dataclass
class Setup:
    idp: IdP
    receiver: SsfReceiver
    kill: KillSwitch
    ledger: Ledger
    http: httpx.AsyncClient
    engine: AsyncEngine

    async def push(self, token: str, **headers: str) -> httpx.Response:
        headers = {"content-type": "application/secevent+jwt", **headers}
        return await self.http.post("/ssf/receiver", content=token, headers=headers)

    async def received(self) -> dict[str, dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(ssf_received))).mappings().all()
        return {r["jti"]: dict(r) for r in rows}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One migrated database per store for the whole module: migrating per test would take
    most of the runtime. Each test starts from an empty ``ssf_received`` (see ``engine``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('ssf') / 'warden.db'}"
        migrate(parse_database_url(url))
        yield url
        return
    if not request.getfixturevalue("postgres_available"):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"warden_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        migrate(parse_database_url(url))
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(migrated: str) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(parse_database_url(migrated))
    async with engine.begin() as conn:
        await conn.execute(delete(ssf_received))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def idp_server() -> Iterator[IdP]:
    """The IdP's HTTP side, on its own loop in a thread, once per module (starting uvicorn
    per test would dominate the runtime); ``idp`` gives each test a fresh IdP state."""
    idp = IdP()
    config = uvicorn.Config(idp.app(), host="127.0.0.1", port=idp.port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:  # readiness poll, bounded
        time.sleep(0.01)
    yield idp
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def idp(idp_server: IdP) -> IdP:
    idp_server.reset()
    return idp_server


async def _setup(engine: AsyncEngine, idp: IdP, **trusted: Any) -> AsyncIterator[Setup]:
    kill, ledger = KillSwitch(), Ledger()
    receiver = SsfReceiver(
        engine,
        ledger,
        trusted=[idp.trusted(**trusted)],
        audience=AUDIENCE,
        act=kill,
        jwks_min_refresh=0,
        poll_interval=0.05,
    )
    app = FastAPI()
    app.include_router(receiver_router(receiver))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=AUDIENCE) as http:
        yield Setup(idp, receiver, kill, ledger, http, engine)
    await receiver.close()


@pytest.fixture
async def warden(engine: AsyncEngine, idp: IdP) -> AsyncIterator[Setup]:
    async for setup in _setup(engine, idp):
        yield setup


async def test_session_revoked_for_a_person_is_acted_on_and_recorded(warden: Setup) -> None:
    claims = warden.idp.event()
    response = await warden.push(warden.idp.sign(claims))
    assert response.status_code == 202
    assert warden.kill.people == [ANN]
    signal = warden.kill.signals[0]
    assert (signal.issuer, signal.event_type, signal.jti) == (
        ISSUER,
        SESSION_REVOKED,
        claims["jti"],
    )
    assert signal.reason_admin == "Landspeed Policy Violation: C076E82F"
    row = (await warden.received())[claims["jti"]]
    assert row["outcome"] == f"killed person {ANN}: 2 mandates revoked 1 agent stopped"
    assert json.loads(row["subject"]) == {"format": "email", "email": ANN}
    [(event_type, entry)] = warden.ledger.entries
    assert event_type == "ssf:received"
    assert entry["person"] == ANN and entry["jti"] == claims["jti"]
    assert "eyJ" not in json.dumps(entry)  # never the token


async def test_a_replayed_set_is_refused_and_not_acted_on_twice(warden: Setup) -> None:
    token = warden.idp.sign(warden.idp.event())
    assert (await warden.push(token)).status_code == 202
    replay = await warden.push(token)
    assert replay.status_code == 400
    assert replay.json()["err"] == "invalid_request"
    assert "already received" in replay.json()["description"]
    assert len(warden.kill.signals) == 1


async def test_a_set_signed_by_an_unknown_key_is_refused(warden: Setup) -> None:
    stranger = RSAKey.generate_key(2048, auto_kid=True)
    response = await warden.push(warden.idp.sign(warden.idp.event(), key=stranger))
    assert response.status_code == 400
    assert response.json()["err"] == "invalid_key"
    assert warden.kill.signals == [] and await warden.received() == {}


async def test_a_forged_set_under_the_idps_kid_fails_authentication(warden: Setup) -> None:
    forger = RSAKey.generate_key(2048)
    token = warden.idp.sign(warden.idp.event(), key=forger, header={"kid": warden.idp.key.kid})
    response = await warden.push(token)
    assert response.json() == {
        "err": "authentication_failed",
        "description": "the set signature does not verify",
    }
    assert warden.kill.signals == []


async def test_an_altered_set_fails_authentication(warden: Setup) -> None:
    head, _, signature = warden.idp.sign(warden.idp.event()).split(".")
    other = warden.idp.sign(
        warden.idp.event(subject={"format": "email", "email": "bob@acme.example"})
    )
    response = await warden.push(f"{head}.{other.split('.')[1]}.{signature}")
    assert response.json()["err"] == "authentication_failed"
    assert warden.kill.signals == []


@pytest.mark.parametrize(
    ("changes", "err"),
    [
        ({"iss": "https://evil.example"}, "invalid_issuer"),
        ({"aud": "https://someone-else.example"}, "invalid_audience"),
        ({"sub": ANN}, "invalid_request"),
        ({"exp": int(time.time()) + 600}, "invalid_request"),
        ({"iat": int(time.time()) + 3600}, "invalid_request"),
        ({"jti": None}, "invalid_request"),
        ({"events": {SESSION_REVOKED: {}, CREDENTIAL_CHANGE: {}}}, "invalid_request"),
        ({"events": {CREDENTIAL_CHANGE: {"credential_type": "password"}}}, "invalid_request"),
    ],
    ids=[
        "issuer",
        "audience",
        "sub",
        "exp",
        "future-iat",
        "no-jti",
        "two-events",
        "no-change-type",
    ],
)
async def test_sets_that_break_the_rules_are_refused_with_their_rfc_8935_code(
    warden: Setup, changes: dict[str, Any], err: str
) -> None:
    claims = {k: v for k, v in (warden.idp.event() | changes).items() if v is not None}
    response = await warden.push(warden.idp.sign(claims))
    assert response.status_code == 400
    assert response.json()["err"] == err
    assert warden.kill.signals == [] and warden.ledger.entries == []


@pytest.mark.parametrize(
    ("body", "header", "err"),
    [
        ("not a jwt", {}, "invalid_request"),
        ("a.b.c", {}, "invalid_request"),
        (None, {"typ": "at+jwt"}, "invalid_request"),
        (None, {"alg": "HS256"}, "invalid_key"),
    ],
    ids=["garbage", "bad-segments", "wrong-typ", "hmac"],
)
async def test_malformed_sets_are_refused(
    warden: Setup, body: str | None, header: dict[str, str], err: str
) -> None:
    if body is None:
        key = OctKey.generate_key(256) if header.get("alg") == "HS256" else None
        body = warden.idp.sign(warden.idp.event(), key=key, header=header)
    response = await warden.push(body)
    assert response.status_code == 400
    assert response.json()["err"] == err


async def test_a_body_that_is_not_a_secevent_jwt_is_refused(warden: Setup) -> None:
    token = warden.idp.sign(warden.idp.event())
    response = await warden.push(token, **{"content-type": "application/json"})
    assert response.json()["err"] == "invalid_request"
    assert warden.kill.signals == []


async def test_credential_change_is_acted_on(warden: Setup) -> None:
    subject = {
        "format": "complex",
        "user": {"format": "iss_sub", "iss": ISSUER, "sub": "u-1", "email": "Ann@Acme.Example"},
    }
    response = await warden.push(warden.idp.sign(warden.idp.event(CREDENTIAL_CHANGE, subject)))
    assert response.status_code == 202
    assert warden.kill.people == [ANN]
    assert warden.kill.signals[0].event["change_type"] == "create"


async def test_other_event_types_are_recorded_but_not_acted_on(warden: Setup) -> None:
    claims = warden.idp.event(VERIFICATION, {"format": "opaque", "id": "stream-1"})
    claims["events"] = {VERIFICATION: {"state": "abc"}}
    response = await warden.push(warden.idp.sign(claims))
    assert response.status_code == 202
    assert warden.kill.signals == []
    outcome = (await warden.received())[claims["jti"]]["outcome"]
    assert outcome == f"ignored: event type `{VERIFICATION}` is not acted on"
    assert warden.ledger.entries[0][1]["outcome"] == outcome


async def test_a_revocation_naming_no_person_is_recorded_but_not_acted_on(warden: Setup) -> None:
    subject = {"format": "opaque", "id": "device-42"}
    response = await warden.push(warden.idp.sign(warden.idp.event(subject=subject)))
    assert response.status_code == 202
    assert warden.kill.signals == []
    assert "no person" in warden.ledger.entries[0][1]["outcome"]


async def test_a_rotated_idp_key_is_fetched_on_its_first_use(warden: Setup) -> None:
    assert (await warden.push(warden.idp.sign(warden.idp.event()))).status_code == 202
    assert (await warden.push(warden.idp.sign(warden.idp.event()))).status_code == 202
    assert warden.idp.jwks_fetches == 1  # cached
    warden.idp.rotate()
    assert (await warden.push(warden.idp.sign(warden.idp.event()))).status_code == 202
    assert warden.idp.jwks_fetches == 2
    assert len(warden.kill.signals) == 3


async def test_an_unreachable_jwks_is_a_retryable_failure(warden: Setup) -> None:
    warden.idp.jwks_down = True
    token = warden.idp.sign(warden.idp.event())
    response = await warden.push(token)
    assert response.status_code == 503
    assert await warden.received() == {}
    warden.idp.jwks_down = False
    assert (await warden.push(token)).status_code == 202  # the IdP's retry goes through
    assert warden.kill.people == [ANN]


async def test_a_failed_kill_lets_the_idp_send_the_set_again(warden: Setup) -> None:
    warden.kill.failures = 1
    token = warden.idp.sign(warden.idp.event())
    assert (await warden.push(token)).status_code == 503
    assert await warden.received() == {} and warden.ledger.entries == []
    assert (await warden.push(token)).status_code == 202
    assert warden.kill.people == [ANN]


async def test_an_issuer_with_a_push_token_must_present_it(engine: AsyncEngine, idp: IdP) -> None:
    async for warden in _setup(engine, idp, push_token="push-s3cret"):
        token = idp.sign(idp.event())
        missing = await warden.push(token)
        assert missing.json()["err"] == "authentication_failed"
        wrong = await warden.push(token, authorization="Bearer nope")
        assert wrong.json()["err"] == "authentication_failed"
        assert (await warden.push(token, authorization="Bearer push-s3cret")).status_code == 202
        assert warden.kill.people == [ANN]


async def test_an_inline_jwks_needs_no_fetch(engine: AsyncEngine, idp: IdP) -> None:
    jwks = KeySet([idp.key]).as_dict(private=False)
    async for warden in _setup(engine, idp, jwks_uri=None, jwks=jwks):
        assert (await warden.push(idp.sign(idp.event()))).status_code == 202
        assert idp.jwks_fetches == 0 and warden.kill.people == [ANN]


async def test_poll_acknowledges_accepted_sets_and_reports_refused_ones(warden: Setup) -> None:
    idp = warden.idp
    good = [idp.event(subject={"format": "email", "email": f"p{i}@acme.example"}) for i in range(3)]
    bad = idp.event(aud="https://someone-else.example")
    for claims in [*good, bad]:
        idp.queue[claims["jti"]] = idp.sign(claims)
    result = await warden.receiver.poll_once(warden.receiver.trusted[0], max_events=2)
    assert sorted(p or "" for p in warden.kill.people) == [
        "p0@acme.example",
        "p1@acme.example",
        "p2@acme.example",
    ]
    assert sorted(idp.acked) == sorted(c["jti"] for c in good) == sorted(result.acked)
    assert idp.set_errs[bad["jti"]]["err"] == "invalid_audience"
    assert idp.queue == {}
    assert all(r["returnImmediately"] is True for r in idp.poll_requests)
    assert idp.poll_requests[-1]["maxEvents"] == 0  # the last request only acknowledges


async def test_poll_acknowledges_a_set_redelivered_after_a_lost_ack(warden: Setup) -> None:
    idp = warden.idp
    claims = idp.event()
    token = idp.sign(claims)
    assert (await warden.push(token)).status_code == 202
    idp.queue[claims["jti"]] = token
    result = await warden.receiver.poll_once(warden.receiver.trusted[0])
    assert result.acked == (claims["jti"],) and idp.queue == {}
    assert len(warden.kill.signals) == 1


async def test_poll_leaves_a_set_it_could_not_act_on_for_later(warden: Setup) -> None:
    idp, warden.kill.failures = warden.idp, 1
    claims = idp.event()
    idp.queue[claims["jti"]] = idp.sign(claims)
    result = await warden.receiver.poll_once(warden.receiver.trusted[0])
    assert result.deferred == (claims["jti"],) and claims["jti"] in idp.queue
    await warden.receiver.poll_once(warden.receiver.trusted[0])
    assert idp.queue == {} and warden.kill.people == [ANN]


async def test_the_poll_loop_picks_up_events_in_the_background(warden: Setup) -> None:
    claims = warden.idp.event()
    warden.idp.queue[claims["jti"]] = warden.idp.sign(claims)
    await warden.receiver.start()
    await asyncio.wait_for(warden.kill.called.wait(), timeout=5)
    await warden.receiver.close()
    assert warden.kill.people == [ANN]


def test_trusted_issuers_come_from_the_environment() -> None:
    raw = json.dumps(
        [
            {"issuer": ISSUER, "jwks_uri": "https://idp.acme.example/jwks"},
            {
                "issuer": "https://other.example",
                "jwks": KeySet([RSAKey.generate_key(2048)]).as_dict(private=False),
                "poll_url": "https://other.example/poll",
                "authorization": "Bearer s3cret",
            },
        ]
    )
    first, second = trusted_from_env({"WARDEN_SSF_RECEIVER": raw})
    assert first.jwks_uri == "https://idp.acme.example/jwks" and first.poll_url is None
    assert second.poll_url == "https://other.example/poll"
    assert "s3cret" not in repr(second)
    assert trusted_from_env({}) == []


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        '{"issuer": "x"}',
        '[{"issuer": "x"}]',
        '[{"issuer": "x", "jwks": {"keys": []}}]',
        '[{"issuer": "x", "jwks_uri": "http://idp.example/jwks"}]',
        '[{"issuer": "x", "jwks_uri": "https://idp.example/jwks", "pol_url": "https://a"}]',
    ],
    ids=["json", "not-a-list", "no-keys", "empty-jwks", "plain-http", "typo"],
)
def test_a_bad_receiver_configuration_is_refused(raw: str) -> None:
    with pytest.raises(ReceiverConfigError):
        trusted_from_env({"WARDEN_SSF_RECEIVER": raw})


@pytest.mark.parametrize(
    ("subject", "person"),
    [
        ({"format": "email", "email": "Ann@Acme.Example"}, ANN),
        ({"format": "iss_sub", "iss": ISSUER, "sub": "u-1", "email": ANN}, ANN),
        ({"format": "iss_sub", "iss": ISSUER, "sub": "u-1"}, None),
        ({"format": "complex", "user": {"format": "email", "email": ANN}}, ANN),
        (
            {"user": {"format": "email", "email": ANN}, "device": {"format": "opaque", "id": "d"}},
            ANN,
        ),
        (
            {
                "format": "aliases",
                "identifiers": [{"format": "opaque", "id": "1"}, {"format": "email", "email": ANN}],
            },
            ANN,
        ),
        ({"format": "opaque", "id": ANN}, None),
        ({"format": "email", "email": "not-an-email"}, None),
    ],
)
def test_the_person_a_subject_names(subject: dict[str, Any], person: str | None) -> None:
    assert person_of(subject) == person
