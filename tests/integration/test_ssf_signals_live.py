"""Warden's Shared Signals over a running server, heard by an independent receiver: a kill, a
session suspension, a credential rotation and an entitlement change each reach a push stream as
a CAEP Security Event Token that the receiver verifies against Warden's published JWKS — with
the first push refused (the receiver is down) and retried, nothing lost, in order."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from chain_fleet import AGENTS, Fleet, fleet
from joserfc import jws
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["fleet"]  # the fixture, used by name

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
SIEM = "https://siem.acme.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Receiver:
    """An RFC 8935 push endpoint on its own thread and event loop; the first ``down`` pushes
    are answered 503 (an outage)."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.attempts = 0
        self.tokens: list[str] = []
        self._arrived = threading.Condition()
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/events"
        app = Starlette(routes=[Route("/events", self._push, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(self._server.serve(),))

    async def _push(self, request: Request) -> Response:
        body = (await request.body()).decode()
        with self._arrived:
            self.attempts += 1
            if self.down > 0:
                self.down -= 1
                return Response(status_code=503)
            assert request.headers["content-type"] == "application/secevent+jwt"
            self.tokens.append(body)
            self._arrived.notify_all()
        return Response(status_code=202)

    def wait_for(self, count: int, timeout: float) -> list[str]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.tokens) >= count, timeout)
            return list(self.tokens)

    def __enter__(self) -> Receiver:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            self._thread.join(0.02)  # bounded start-up poll
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(down=1) as running:
        yield running


def verified(fleet: Fleet, token: str) -> dict[str, Any]:
    """The SET's claims, as an independent receiver checks them (RFC 8417, SSF 1.0)."""
    jwks = KeySet.import_key_set(fleet.http.get("/.well-known/jwks.json").json())
    decoded = jws.deserialize_compact(token, jwks, algorithms=["ES256"])
    claims: dict[str, Any] = json.loads(decoded.payload)
    assert decoded.protected["typ"] == "secevent+jwt"
    assert claims["iss"] == fleet.server.url
    assert SIEM in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert "sub" not in claims and "exp" not in claims and len(claims["events"]) == 1
    return claims


def test_kill_suspend_rotate_and_entitle_reach_a_receiver_across_an_outage(
    fleet: Fleet, receiver: Receiver
) -> None:
    wanted = [CAEP + e for e in ("session-revoked", "credential-change", "token-claims-change")]
    stream = fleet.admin(
        "POST",
        "/ssf/streams",
        json={
            "aud": SIEM,
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": receiver.url},
            "events_requested": wanted,
        },
    )
    assert stream.status_code == 201, stream.text
    config = fleet.http.get("/.well-known/ssf-configuration").json()
    assert config["issuer"] == fleet.server.url and "urn:ietf:rfc:8935" in str(config)

    # 1. A kill.
    body = {"kind": "agent", "target": AGENTS["a1"], "reason": "INC-4711"}
    assert fleet.admin("POST", "/v1/kill", json=body).status_code == 200
    # 2. A session suspended.
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    assert fleet.decide("root", "erp.invoice.read", None, mandate=mandate)["decision"] is True
    [session] = fleet.admin("GET", "/v1/sessions", params={"agent": AGENTS["root"]}).json()[
        "sessions"
    ]
    suspend = fleet.admin(
        "POST", f"/v1/sessions/{session['id']}/suspend", json={"reason": "looping"}
    )
    assert suspend.status_code == 200, suspend.text
    # 3. A credential rotated: a new X.509-SVID for a2.
    issued = fleet.admin("POST", f"/v1/agents/{AGENTS['a2']}/credentials", json={"kind": "x509"})
    assert issued.status_code == 200, issued.text
    # 4. An entitlement granted to a3.
    grant = {"action": "invoke", "resource_type": "tool", "resource_id": "erp.invoice.read",
             "justification": "month end"}  # fmt: skip
    granted = fleet.admin("POST", f"/v1/agents/{AGENTS['a3']}/entitlements", json=grant)
    assert granted.status_code == 201, granted.text

    tokens = receiver.wait_for(4, timeout=30)
    assert len(tokens) == 4, f"{len(tokens)} of 4 SETs arrived after {receiver.attempts} pushes"
    assert receiver.attempts >= 5  # the refused push was retried
    events = [next(iter(verified(fleet, t)["events"].items())) for t in tokens]
    assert [(kind.removeprefix(CAEP), event["subject"]) for kind, event in events] == [
        ("session-revoked", {"format": "uri", "uri": AGENTS["a1"]}),
        ("session-revoked", {"format": "opaque", "id": session["id"]}),
        ("credential-change", {"format": "uri", "uri": AGENTS["a2"]}),
        ("token-claims-change", {"format": "uri", "uri": AGENTS["a3"]}),
    ]
    revoked, suspended, rotated, claims = (event for _, event in events)
    assert "INC-4711" in str(revoked["reason_admin"])
    assert "looping" in str(suspended["reason_admin"])
    assert (rotated["credential_type"], rotated["change_type"]) == ("x509", "create")
    assert claims["claims"]["warden_entitlement"]["resource_id"] == "erp.invoice.read"
    assert httpx.codes.is_success(fleet.admin("GET", "/ssf/streams").status_code)
