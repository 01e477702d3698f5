"""CAEP 1.0 events Warden transmits, and the SSF 1.0 verification event.

Each builder returns the event object (the value under the event type URI in a SET's
``events`` claim), with the subject in ``subject`` (see :mod:`warden.ssf.set`), after
checking what CAEP 1.0 requires:

- ``session-revoked`` (CAEP §3.1): no required member; the CAEP interoperability profile
  (§5.1) requires a non-empty ``reason_admin``, so Warden always sends one.
- ``token-claims-change`` (CAEP §3.2): ``claims`` REQUIRED, a non-empty object.
- ``credential-change`` (CAEP §3.3): ``credential_type`` and ``change_type`` REQUIRED, from
  the lists below; the interoperability profile (§5.2) requires ``reason_admin``.
- optional on all (CAEP §2): ``event_timestamp`` (seconds), ``initiating_entity``
  (admin|user|policy|system), ``reason_admin``/``reason_user`` — objects keyed by BCP 47
  language tag; a plain string is sent as ``{"en": ...}``.
- verification (SSF §8.1.4.1): ``state`` echoed from the receiver's request; the subject is
  the stream itself (``opaque``, its ``stream_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from warden.ssf.errors import InvalidEvent
from warden.ssf.set import check_subject, session_subject

CAEP_PREFIX = "https://schemas.openid.net/secevent/caep/event-type/"
SESSION_REVOKED = CAEP_PREFIX + "session-revoked"
TOKEN_CLAIMS_CHANGE = CAEP_PREFIX + "token-claims-change"
CREDENTIAL_CHANGE = CAEP_PREFIX + "credential-change"
SSF_PREFIX = "https://schemas.openid.net/secevent/ssf/event-type/"
VERIFICATION = SSF_PREFIX + "verification"
STREAM_UPDATED = SSF_PREFIX + "stream-updated"

EVENTS_SUPPORTED = (SESSION_REVOKED, CREDENTIAL_CHANGE, TOKEN_CLAIMS_CHANGE)
"""The event types a receiver may request; verification is sent whatever it requested."""


class InitiatingEntity(StrEnum):
    ADMIN = "admin"
    USER = "user"
    POLICY = "policy"
    SYSTEM = "system"


class CredentialType(StrEnum):
    PASSWORD = "password"
    PIN = "pin"
    X509 = "x509"
    FIDO2_PLATFORM = "fido2-platform"
    FIDO2_ROAMING = "fido2-roaming"
    FIDO_U2F = "fido-u2f"
    VERIFIABLE_CREDENTIAL = "verifiable-credential"
    PHONE_VOICE = "phone-voice"
    PHONE_SMS = "phone-sms"
    APP = "app"


class ChangeType(StrEnum):
    CREATE = "create"
    REVOKE = "revoke"
    UPDATE = "update"
    DELETE = "delete"


Reason = str | Mapping[str, str]


def session_revoked(
    subject: Mapping[str, Any],
    reason_admin: Reason,
    initiating_entity: InitiatingEntity | str = InitiatingEntity.ADMIN,
    at: datetime | None = None,
    *,
    reason_user: Reason | None = None,
) -> dict[str, Any]:
    """The sessions of ``subject`` were revoked (Warden: kill switch, session suspension)."""
    event = _common(subject, initiating_entity, at, reason_admin, reason_user)
    if "reason_admin" not in event:
        raise InvalidEvent("session-revoked needs a non-empty `reason_admin`", field="reason_admin")
    return event


def credential_change(
    subject: Mapping[str, Any],
    credential_type: CredentialType | str,
    change_type: ChangeType | str,
    *,
    reason_admin: Reason,
    initiating_entity: InitiatingEntity | str | None = None,
    at: datetime | None = None,
    reason_user: Reason | None = None,
    friendly_name: str | None = None,
    x509_issuer: str | None = None,
    x509_serial: str | None = None,
) -> dict[str, Any]:
    """A credential of ``subject`` was created, revoked, updated or deleted."""
    event = _common(subject, initiating_entity, at, reason_admin, reason_user)
    if "reason_admin" not in event:
        raise InvalidEvent(
            "credential-change needs a non-empty `reason_admin`", field="reason_admin"
        )
    event["credential_type"] = _member(CredentialType, credential_type, "credential_type")
    event["change_type"] = _member(ChangeType, change_type, "change_type")
    optional = {
        "friendly_name": friendly_name,
        "x509_issuer": x509_issuer,
        "x509_serial": x509_serial,
    }
    event.update({k: v for k, v in optional.items() if v})
    return event


def token_claims_change(
    subject: Mapping[str, Any],
    claims: Mapping[str, Any],
    *,
    reason_admin: Reason | None = None,
    initiating_entity: InitiatingEntity | str | None = None,
    at: datetime | None = None,
    reason_user: Reason | None = None,
) -> dict[str, Any]:
    """Claims in tokens about ``subject`` changed to these values (Warden: entitlements)."""
    if not isinstance(claims, Mapping) or not claims:
        raise InvalidEvent("token-claims-change needs a non-empty `claims` object", field="claims")
    event = _common(subject, initiating_entity, at, reason_admin, reason_user)
    event["claims"] = dict(claims)
    return event


def verification(stream_id: str, state: str | None = None) -> dict[str, Any]:
    """The SSF verification event for ``stream_id``, echoing the receiver's ``state``."""
    event: dict[str, Any] = {"subject": session_subject(stream_id)}
    if state is not None:
        event["state"] = state
    return event


def check_event(event_type: str, event: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidEvent` if ``event`` lacks what its type requires."""
    check_subject(event.get("subject"))
    if event_type == TOKEN_CLAIMS_CHANGE:
        token_claims_change(event["subject"], event.get("claims") or {})
    elif event_type == CREDENTIAL_CHANGE:
        _member(CredentialType, event.get("credential_type"), "credential_type")
        _member(ChangeType, event.get("change_type"), "change_type")
    if event_type in (SESSION_REVOKED, CREDENTIAL_CHANGE) and not event.get("reason_admin"):
        raise InvalidEvent("the event needs a non-empty `reason_admin`", field="reason_admin")


def _common(
    subject: Mapping[str, Any],
    initiating_entity: InitiatingEntity | str | None,
    at: datetime | None,
    reason_admin: Reason | None,
    reason_user: Reason | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"subject": check_subject(subject)}
    if at is not None:
        event["event_timestamp"] = int(at.timestamp())
    if initiating_entity is not None:
        event["initiating_entity"] = _member(
            InitiatingEntity, initiating_entity, "initiating_entity"
        )
    for name, reason in (("reason_admin", reason_admin), ("reason_user", reason_user)):
        if reason is not None:
            event[name] = _localized(reason, name)
    return event


def _localized(reason: Reason, name: str) -> dict[str, str]:
    """A reason as CAEP §2 wants it: ``{language tag: text}``, every text non-empty."""
    texts = {"en": reason} if isinstance(reason, str) else dict(reason)
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts.values()):
        raise InvalidEvent(f"`{name}` must be non-empty text", field=name)
    if not all(isinstance(tag, str) and tag for tag in texts):
        raise InvalidEvent(f"`{name}` is keyed by language tags", field=name)
    return texts


def _member(kind: type[StrEnum], value: Any, name: str) -> str:
    try:
        return kind(value).value
    except ValueError:
        allowed = "|".join(m.value for m in kind)
        raise InvalidEvent(
            f"`{name}` must be one of {allowed}, not `{value}`", field=name
        ) from None
