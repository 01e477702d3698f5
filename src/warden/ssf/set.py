"""Security Event Tokens (RFC 8417) as the Shared Signals Framework 1.0 profiles them.

A SET is a JWT whose header says ``typ: secevent+jwt`` (RFC 8417 §2.3; SSF 1.0 §4.1.1) and
whose claims are ``iss``, ``iat``, ``jti``, ``aud``, ``txn`` (SSF §4.1.9: SHOULD) and
``events`` holding exactly one event (SSF §4.2.1; CAEP interoperability profile). ``sub`` and
``exp`` MUST NOT appear (SSF §4.1.2, §4.1.7): they would let a SET pass for an ID or access
token.

The subject is an RFC 9493 subject identifier. SSF 1.0 final puts it in the top-level
``sub_id`` claim; CAEP implementers' drafts put it in the event's ``subject`` member, and many
receivers still read it there, so Warden writes both, with the same value (SSF §4.2.3 lets a
transmitter add members; receivers ignore what they do not understand).

Signed with Warden's OAuth key ring (ES256, ``kid`` = RFC 7638 thumbprint, published at
``/.well-known/jwks.json``), so a receiver verifies SETs with the same JWKS as access tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from warden.ssf.errors import InvalidEvent
from warden.tokens import rfc9068
from warden.tokens.keys import KeyRing

SET_TYP = "secevent+jwt"
FORBIDDEN_CLAIMS = frozenset({"sub", "exp"})

# RFC 9493 §3.2 formats and the member each one needs (``complex`` is SSF 1.0 §2.3).
_SUBJECT_MEMBERS: Mapping[str, tuple[str, ...]] = {
    "account": ("uri",),
    "email": ("email",),
    "iss_sub": ("iss", "sub"),
    "opaque": ("id",),
    "phone_number": ("phone_number",),
    "did": ("url",),
    "uri": ("uri",),
    "aliases": ("identifiers",),
    "complex": (),
}


def agent_subject(spiffe_id: str) -> dict[str, str]:
    """An agent, by its SPIFFE ID (RFC 9493 §3.2.7 ``uri`` format)."""
    return {"format": "uri", "uri": _non_empty(spiffe_id, "subject.uri")}


def person_subject(email: str) -> dict[str, str]:
    """A person, by email (RFC 9493 §3.2.2); CAEP interop receivers must support it."""
    return {"format": "email", "email": _non_empty(email, "subject.email")}


def session_subject(session_id: str) -> dict[str, str]:
    """A Warden session, by its id (RFC 9493 §3.2.4 ``opaque``)."""
    return {"format": "opaque", "id": _non_empty(session_id, "subject.id")}


def check_subject(subject: Any, where: str = "subject") -> dict[str, Any]:
    """``subject`` as a dict once it is a subject identifier with its format's members."""
    if not isinstance(subject, Mapping):
        raise InvalidEvent("the subject must be an rfc 9493 subject identifier", field=where)
    fmt = subject.get("format")
    if not isinstance(fmt, str) or not fmt:
        raise InvalidEvent("the subject has no `format`", field=f"{where}.format")
    for member in _SUBJECT_MEMBERS.get(fmt, ()):
        if not subject.get(member):
            raise InvalidEvent(f"a `{fmt}` subject needs `{member}`", field=f"{where}.{member}")
    return dict(subject)


def set_claims(
    *,
    issuer: str,
    audience: Sequence[str],
    event_type: str,
    event: Mapping[str, Any],
    now: datetime,
    txn: str | None = None,
    jti: str | None = None,
) -> dict[str, Any]:
    """The claims of one SET carrying ``event`` (which holds its ``subject``)."""
    if not audience:
        raise InvalidEvent("a set needs an audience", field="aud")
    subject = check_subject(event.get("subject"))
    claims: dict[str, Any] = {
        "iss": issuer,
        "iat": int(now.timestamp()),
        "jti": jti or uuid.uuid4().hex,
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "sub_id": subject,
        "events": {event_type: dict(event)},
    }
    if txn is not None:
        claims["txn"] = txn
    return claims


def sign_set(claims: Mapping[str, Any], keys: KeyRing) -> str:
    """``claims`` as a compact JWS with ``typ: secevent+jwt`` (refuses ``sub``/``exp``)."""
    present = FORBIDDEN_CLAIMS & claims.keys()
    if present:
        raise InvalidEvent(f"a set must not carry `{sorted(present)[0]}`", field="")
    events = claims.get("events")
    if not isinstance(events, Mapping) or len(events) != 1:
        raise InvalidEvent("a set carries exactly one event", field="events")
    return rfc9068.sign(SET_TYP, claims, keys)


def _non_empty(value: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent("the subject identifier is empty", field=where)
    return value
