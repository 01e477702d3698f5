"""Security Event Tokens and CAEP events: the claims SSF 1.0 requires, checked with joserfc
against Warden's JWKS, and the CAEP 1.0 spec's own examples as fixtures.

Fixtures are quoted from openid/sharedsignals@e47d2a0, ``openid-caep-1_0.md`` §3 (examples
of session-revoked, token-claims-change, credential-change)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.ssf import events
from warden.ssf.errors import InvalidEvent
from warden.ssf.set import (
    SET_TYP,
    agent_subject,
    person_subject,
    session_subject,
    set_claims,
    sign_set,
)
from warden.tokens.keys import KeyRing
from warden.tokens.store.sql import SqlKeyStore

T0 = datetime(2030, 1, 1, 9, tzinfo=UTC)
ISSUER = "https://warden.example"
AGENT = "spiffe://acme.example/agent/clerk"

# CAEP 1.0 §3.1.2, "Session Revoked - subject as `sub` claim (includes optional claims)"
SPEC_SESSION_REVOKED = {
    "initiating_entity": "policy",
    "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
    "reason_user": {
        "en": "Access attempt from multiple regions.",
        "es-410": "Intento de acceso desde varias regiones.",
    },
    "event_timestamp": 1615304991,
}
# CAEP 1.0 §3.2.2, "OIDC ID Token Claims Change - Optional claims"
SPEC_TOKEN_CLAIMS_CHANGE = {
    "event_timestamp": 1615304991,
    "initiating_entity": "policy",
    "reason_admin": {"en": "User left trusted network: CorpNet3"},
    "reason_user": {
        "en": "You're no longer connected to a trusted network.",
        "it": "Non sei più connesso a una rete attendibile.",
    },
    "claims": {"trusted_network": False},
}
# CAEP 1.0 §3.3.2, "Provisioning a new FIDO2 authenticator" (less fido2_aaguid)
SPEC_CREDENTIAL_CHANGE = {
    "credential_type": "fido2-roaming",
    "change_type": "create",
    "friendly_name": "Jane's USB authenticator",
    "initiating_entity": "user",
    "reason_admin": {"en": "User self-enrollment"},
    "event_timestamp": 1615304991,
}
SPEC_SUBJECT = {"format": "email", "email": "jane.smith@example.com"}
SPEC_AT = datetime.fromtimestamp(1615304991, UTC)


@pytest.fixture
async def keys(engine: AsyncEngine) -> KeyRing:
    ring = KeyRing(SqlKeyStore(engine), max_token_lifetime=3600)
    await ring.load(T0)
    return ring


def verify(token: str, keys: KeyRing) -> tuple[dict[str, Any], dict[str, Any]]:
    """What an independent receiver does: the signature against the published JWKS."""
    published = KeySet.import_key_set(keys.jwks(T0))  # type: ignore[arg-type]
    verified = jws.deserialize_compact(token, published, algorithms=["ES256"])
    return dict(verified.protected), json.loads(verified.payload)


async def test_a_set_is_typed_signed_with_the_published_key_and_has_no_sub_or_exp(
    keys: KeyRing,
) -> None:
    event = events.session_revoked(agent_subject(AGENT), "killed by ann@acme.example")
    claims = set_claims(
        issuer=ISSUER,
        audience=["https://receiver.example"],
        event_type=events.SESSION_REVOKED,
        event=event,
        now=T0,
        txn="kill_42",
    )
    header, payload = verify(sign_set(claims, keys), keys)
    assert header["typ"] == SET_TYP == "secevent+jwt"
    assert header["alg"] == "ES256" and header["kid"] == keys.current().kid
    assert "sub" not in payload and "exp" not in payload
    assert payload["iss"] == ISSUER and payload["aud"] == "https://receiver.example"
    assert payload["iat"] == int(T0.timestamp()) and payload["txn"] == "kill_42"
    assert len(payload["jti"]) >= 32
    assert list(payload["events"]) == [events.SESSION_REVOKED]
    sent = payload["events"][events.SESSION_REVOKED]
    subject = {"format": "uri", "uri": AGENT}
    assert payload["sub_id"] == subject and sent["subject"] == subject
    assert sent["reason_admin"] == {"en": "killed by ann@acme.example"}
    assert sent["initiating_entity"] == "admin"


async def test_each_set_gets_its_own_jti_and_several_audiences_an_array(keys: KeyRing) -> None:
    event = events.verification("stream1", "state-1")
    first, second = (
        set_claims(
            issuer=ISSUER,
            audience=["a", "b"],
            event_type=events.VERIFICATION,
            event=event,
            now=T0,
        )
        for _ in range(2)
    )
    assert first["jti"] != second["jti"] and first["aud"] == ["a", "b"]
    assert first["sub_id"] == {"format": "opaque", "id": "stream1"}
    assert first["events"][events.VERIFICATION]["state"] == "state-1"


async def test_sign_refuses_sub_exp_and_more_than_one_event(keys: KeyRing) -> None:
    event = events.verification("s")
    claims = set_claims(
        issuer=ISSUER, audience=["a"], event_type=events.VERIFICATION, event=event, now=T0
    )
    for extra in ({"sub": "x"}, {"exp": 1}):
        with pytest.raises(InvalidEvent):
            sign_set({**claims, **extra}, keys)
    two = {**claims, "events": {events.VERIFICATION: event, events.SESSION_REVOKED: event}}
    with pytest.raises(InvalidEvent, match="exactly one event"):
        sign_set(two, keys)


def test_builders_reproduce_the_caep_spec_examples() -> None:
    revoked = events.session_revoked(
        SPEC_SUBJECT,
        SPEC_SESSION_REVOKED["reason_admin"],  # type: ignore[arg-type]
        "policy",
        SPEC_AT,
        reason_user=SPEC_SESSION_REVOKED["reason_user"],  # type: ignore[arg-type]
    )
    assert revoked == {"subject": SPEC_SUBJECT, **SPEC_SESSION_REVOKED}
    changed = events.token_claims_change(
        SPEC_SUBJECT,
        {"trusted_network": False},
        reason_admin="User left trusted network: CorpNet3",
        reason_user=SPEC_TOKEN_CLAIMS_CHANGE["reason_user"],  # type: ignore[arg-type]
        initiating_entity="policy",
        at=SPEC_AT,
    )
    assert changed == {"subject": SPEC_SUBJECT, **SPEC_TOKEN_CLAIMS_CHANGE}
    credential = events.credential_change(
        SPEC_SUBJECT,
        "fido2-roaming",
        "create",
        friendly_name="Jane's USB authenticator",
        initiating_entity="user",
        reason_admin="User self-enrollment",
        at=SPEC_AT,
    )
    assert credential == {"subject": SPEC_SUBJECT, **SPEC_CREDENTIAL_CHANGE}


@pytest.mark.parametrize(
    ("event_type", "fixture"),
    [
        (events.SESSION_REVOKED, SPEC_SESSION_REVOKED),
        (events.TOKEN_CLAIMS_CHANGE, SPEC_TOKEN_CLAIMS_CHANGE),
        (events.CREDENTIAL_CHANGE, SPEC_CREDENTIAL_CHANGE),
    ],
)
def test_the_spec_examples_pass_the_emit_check(event_type: str, fixture: dict[str, Any]) -> None:
    events.check_event(event_type, {"subject": SPEC_SUBJECT, **fixture})


def test_what_caep_requires_is_enforced() -> None:
    person = person_subject("ann@acme.example")
    with pytest.raises(InvalidEvent, match="reason_admin"):
        events.session_revoked(person, "  ")
    with pytest.raises(InvalidEvent, match="credential_type"):
        events.credential_change(person, "smart-card", "create", reason_admin="rotated")
    with pytest.raises(InvalidEvent, match="change_type"):
        events.credential_change(person, "x509", "rotate", reason_admin="rotated")
    with pytest.raises(InvalidEvent, match="claims"):
        events.token_claims_change(person, {})
    with pytest.raises(InvalidEvent, match="initiating_entity"):
        events.session_revoked(person, "why", initiating_entity="robot")
    with pytest.raises(InvalidEvent, match="reason_admin"):
        events.check_event(events.SESSION_REVOKED, {"subject": person})
    with pytest.raises(InvalidEvent, match="format"):
        events.check_event(events.SESSION_REVOKED, {"subject": {"email": "x"}})


def test_subject_helpers_give_rfc_9493_identifiers() -> None:
    assert agent_subject(AGENT) == {"format": "uri", "uri": AGENT}
    assert person_subject("ann@acme.example") == {"format": "email", "email": "ann@acme.example"}
    assert session_subject("ses_1") == {"format": "opaque", "id": "ses_1"}
    with pytest.raises(InvalidEvent):
        person_subject("")
    with pytest.raises(InvalidEvent, match="`iss_sub` subject needs `sub`"):
        events.session_revoked({"format": "iss_sub", "iss": "https://idp"}, "why")
