"""An IdP tells Warden, over Shared Signals, that a person's sessions were revoked: the SET is
pushed to the running server, verified against the IdP's key, and everything the person set
in motion stops on its next action — their delegated agents included."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from chain_fleet import PERSON, Fleet, build, codes, fleet
from joserfc import jwt
from joserfc.jwk import ECKey

__all__ = ["fleet"]  # the fixture, used by name

IDP = "https://idp.acme.example"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"


@pytest.fixture
def idp_key(monkeypatch: pytest.MonkeyPatch) -> ECKey:
    """The IdP's signing key, trusted by the server the `fleet` fixture then starts."""
    key = ECKey.generate_key("P-256", private=True, parameters={"kid": "idp-1"})
    jwks = {"keys": [key.as_dict(private=False)]}
    monkeypatch.setenv("WARDEN_SSF_RECEIVER", json.dumps([{"issuer": IDP, "jwks": jwks}]))
    return key


def session_revoked(key: ECKey, audience: str, email: str) -> str:
    claims = {
        "iss": IDP,
        "aud": audience,
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "events": {
            SESSION_REVOKED: {
                "subject": {"format": "email", "email": email},
                "event_timestamp": int(time.time()),
                "initiating_entity": "admin",
                "reason_admin": "Account takeover suspected",
            }
        },
    }
    header = {"alg": "ES256", "typ": "secevent+jwt", "kid": "idp-1"}
    return jwt.encode(header, claims, key)


def test_an_idp_revoking_a_persons_sessions_stops_their_agents(
    idp_key: ECKey, fleet: Fleet
) -> None:
    mandate = fleet.mandate("Pay the approved invoices from Acme Supplies")
    a1, a2 = build(fleet, 2, mandate)
    assert fleet.decide("a2", "erp.invoice.read", a2)["decision"] is True

    token = session_revoked(idp_key, fleet.server.url, PERSON.upper())
    pushed = fleet.http.post(
        "/ssf/receiver", content=token, headers={"Content-Type": "application/secevent+jwt"}
    )
    assert pushed.status_code == 202, pushed.text

    for hop in (a1, a2):
        denied = fleet.decide(hop.name, "erp.invoice.read", hop)
        assert denied["decision"] is False and "kill.person" in codes(denied)
    root = fleet.decide("root", "erp.invoice.read", None, mandate=mandate)
    assert root["decision"] is False
    kills = fleet.admin("GET", "/v1/kills").json()["kills"]
    assert [(k["kind"], k["target"], k["actor"]) for k in kills] == [
        ("person", PERSON, f"ssf:{IDP}")
    ]
    assert "Account takeover suspected" in kills[0]["reason"]
    # The same SET again is a replay: refused, nothing more happens.
    again = fleet.http.post(
        "/ssf/receiver", content=token, headers={"Content-Type": "application/secevent+jwt"}
    )
    assert again.status_code == 400 and again.json()["err"] == "invalid_request"
    # A SET signed by someone else is refused and changes nothing.
    stranger = ECKey.generate_key("P-256", private=True, parameters={"kid": "idp-1"})
    forged = session_revoked(stranger, fleet.server.url, "bob@acme.example")
    refused = fleet.http.post(
        "/ssf/receiver", content=forged, headers={"Content-Type": "application/secevent+jwt"}
    )
    assert refused.status_code == 400
    assert len(fleet.admin("GET", "/v1/kills").json()["kills"]) == 1
