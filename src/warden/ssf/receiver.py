"""Warden as a Shared Signals receiver: CAEP events from an IdP, acted on.

An IdP that revokes a person's sessions or sees their credential change tells Warden with a
Security Event Token (RFC 8417), pushed (RFC 8935) or polled (RFC 8936). Warden then stops
what that person set in motion, through the ``act`` callback (the kill switch).

Checks on every SET, with RFC 8935 §2.3 error codes (``SetRejected``):

- compact JWS of at most 64 KiB, ``typ: secevent+jwt`` (SSF 1.0 §4.1.6), an asymmetric ``alg``
  (never ``none`` or HMAC: RFC 8725 §3.1), RSA keys of at least 2048 bits (CAEP
  interoperability profile) → ``invalid_request`` / ``invalid_key``;
- ``iss`` one of the trusted issuers → ``invalid_issuer``; signature by a key of that issuer's
  JWKS (a ``jwks_uri`` is cached and fetched again on an unknown ``kid``) → ``invalid_key``
  (no such key) or ``authentication_failed`` (the signature does not verify);
- ``aud`` contains Warden's audience → ``invalid_audience``;
- ``jti`` and ``iat`` present, ``iat`` not more than 5 minutes ahead, no ``sub`` and no ``exp``
  (SSF 1.0 §4.1.2 and §4.1.8), exactly one event (SSF 1.0 §4.1.3), CAEP fields the event
  type requires → ``invalid_request``; a ``jti`` already received → ``invalid_request``.

CAEP ``session-revoked`` and ``credential-change`` about a person are acted on; every other
event type (SSF verification, stream updates, ``token-claims-change`` ...) is recorded and
ignored. Each accepted SET lands in ``ssf_received`` and in the ledger (``ssf:received``:
issuer, jti, event type, person, outcome; never the token).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.ssf.errors import SsfError
from warden.store.schema import ssf_received
from warden.tokens.rfc9068 import audiences

log = logging.getLogger(__name__)

ENV_VAR: Final = "WARDEN_SSF_RECEIVER"
SET_TYP: Final = "secevent+jwt"
MAX_SET_BYTES: Final = 64 * 1024
MAX_JTI: Final = 256  # warden.store.schema.ssf_received.jti
IAT_LEEWAY: Final = 300  # seconds an IdP's clock may run ahead
MIN_RSA_BITS: Final = 2048
ALGS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LEDGER_EVENT: Final = "ssf:received"

CAEP: Final = "https://schemas.openid.net/secevent/caep/event-type/"
SESSION_REVOKED: Final = CAEP + "session-revoked"
CREDENTIAL_CHANGE: Final = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE: Final = CAEP + "token-claims-change"
ACTED_ON: Final = frozenset({SESSION_REVOKED, CREDENTIAL_CHANGE})

SetErr = Literal[
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
]


# SsfError (warden.ssf.errors)
# └── SsfReceiverError
#     ├── SetRejected          the SET is refused for good: RFC 8935 §2.3 ``err`` + description
#     │   └── SetReplayed      its ``jti`` was already received
#     ├── ReceiverUnavailable  not processed now (JWKS or poll endpoint down, act failed): retry
#     └── ReceiverConfigError  WARDEN_SSF_RECEIVER is malformed
class SsfReceiverError(SsfError):
    code = "ssf_receiver_error"


class SetRejected(SsfReceiverError):
    """A SET Warden will not accept; ``err`` is the RFC 8935 §2.3 error code."""

    def __init__(self, err: SetErr, description: str) -> None:
        super().__init__(description, code=err)
        self.err: SetErr = err
        self.description = description

    def to_dict(self) -> dict[str, object]:
        return {"err": self.err, "description": self.description}


class SetReplayed(SetRejected):
    """A SET whose ``jti`` was already received (``invalid_request``)."""

    def __init__(self, jti: str) -> None:
        super().__init__("invalid_request", f"set `{jti}` was already received")


class ReceiverUnavailable(SsfReceiverError):
    code = "temporarily_unavailable"


class ReceiverConfigError(SsfReceiverError):
    code = "invalid_configuration"


@dataclass(frozen=True, slots=True)
class Trusted:
    """An IdP whose SETs Warden accepts. Exactly one of ``jwks`` (inline) and ``jwks_uri``.

    ``poll_url`` + ``authorization`` (the whole ``Authorization`` header value Warden sends)
    turn on poll mode; ``push_token``, if set, is a bearer token the IdP must present when
    pushing, on top of the signature. Secrets are kept out of ``repr``."""

    issuer: str
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    poll_url: str | None = None
    authorization: str | None = field(default=None, repr=False)
    push_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.issuer:
            raise ReceiverConfigError("a trusted issuer needs `issuer`")
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ReceiverConfigError(f"`{self.issuer}` needs exactly one of `jwks`, `jwks_uri`")
        for url in (self.jwks_uri, self.poll_url):
            if url is not None and not _safe_url(url):
                raise ReceiverConfigError(f"`{url}` must be https (http only on loopback)")
        if self.jwks is not None:
            try:
                _import(self.jwks, self.issuer)
            except ReceiverUnavailable:
                raise ReceiverConfigError(
                    f"the `jwks` of `{self.issuer}` is not a jwk set"
                ) from None


@dataclass(frozen=True, slots=True)
class Signal:
    """One verified event from an IdP, as the ``act`` callback sees it.

    ``person`` is the lower-cased email the subject identifies, or None (opaque ids, devices,
    an ``iss_sub`` without an ``email`` member, ...)."""

    issuer: str
    jti: str
    event_type: str
    subject: Mapping[str, Any]  # the sub_id (RFC 9493), as sent
    person: str | None
    reason_admin: str | None
    event_timestamp: int | None
    event: Mapping[str, Any]  # the event's own members (change_type, credential_type, ...)


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one :meth:`SsfReceiver.poll_once` did: SETs acknowledged, refused, left for later."""

    acked: tuple[str, ...]
    refused: Mapping[str, str]  # jti -> err
    deferred: tuple[str, ...]


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


Act = Callable[[Signal], Awaitable[str]]
"""Stops what the signal's person set in motion; returns a one-line outcome for the record."""


def trusted_from_env(environ: Mapping[str, str] | None = None) -> list[Trusted]:
    """The trusted IdPs in ``WARDEN_SSF_RECEIVER``: a JSON list of objects with ``issuer``,
    ``jwks`` or ``jwks_uri``, and optionally ``poll_url``, ``authorization``, ``push_token``.
    Unset or empty: none (the receiver refuses every SET with ``invalid_issuer``)."""
    raw = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise ReceiverConfigError(f"{ENV_VAR} is not valid json") from None
    if not isinstance(items, list):
        raise ReceiverConfigError(f"{ENV_VAR} must be a json list of trusted issuers")
    return [_trusted(item, i) for i, item in enumerate(items)]


_TRUSTED_KEYS: Final = frozenset(
    {"issuer", "jwks", "jwks_uri", "poll_url", "authorization", "push_token"}
)


def _trusted(item: object, index: int) -> Trusted:
    if not isinstance(item, dict):
        raise ReceiverConfigError(f"{ENV_VAR}[{index}] must be an object")
    unknown = sorted(set(item) - _TRUSTED_KEYS)
    if unknown:
        raise ReceiverConfigError(f"{ENV_VAR}[{index}] has unknown keys `{', '.join(unknown)}`")
    strings = {k: v for k, v in item.items() if k != "jwks"}
    if not all(isinstance(v, str) for v in strings.values()):
        raise ReceiverConfigError(f"{ENV_VAR}[{index}]: every value but `jwks` is a string")
    jwks = item.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise ReceiverConfigError(f"{ENV_VAR}[{index}].jwks must be a jwk set object")
    return Trusted(jwks=jwks, **strings)


def _safe_url(url: str) -> bool:
    parts = urlsplit(url)
    loopback = parts.hostname in {"localhost", "127.0.0.1", "::1"}
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


class _Keys:
    """Each trusted issuer's verification keys. A ``jwks_uri`` is fetched on first use, kept
    for ``ttl`` seconds and fetched again when a SET names an unknown ``kid`` (the IdP rotated),
    but not more often than every ``min_refresh`` seconds: unknown kids cannot make Warden
    hammer the IdP."""

    def __init__(self, client: httpx.AsyncClient, ttl: float, min_refresh: float) -> None:
        self._client = client
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._sets: dict[str, tuple[KeySet, float]] = {}  # issuer -> (keys, fetched, monotonic)
        self._inline: dict[str, KeySet] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def find(self, trusted: Trusted, kid: str | None) -> Key | None:
        if trusted.jwks is not None:
            inline = self._inline.get(trusted.issuer)
            if inline is None:
                inline = self._inline[trusted.issuer] = _import(trusted.jwks, trusted.issuer)
            return _pick(inline, kid)
        cached = self._sets.get(trusted.issuer)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._ttl:
            key = _pick(cached[0], kid)
            if key is not None or now - cached[1] < self._min_refresh:
                return key
        return _pick(await self._fetch(trusted, cached), kid)

    async def _fetch(self, trusted: Trusted, seen: tuple[KeySet, float] | None) -> KeySet:
        lock = self._locks.setdefault(trusted.issuer, asyncio.Lock())
        async with lock:
            current = self._sets.get(trusted.issuer)
            if current is not None and current is not seen:  # fetched while we waited
                return current[0]
            keys = await self._download(trusted)
            self._sets[trusted.issuer] = (keys, time.monotonic())
            return keys

    async def _download(self, trusted: Trusted) -> KeySet:
        assert trusted.jwks_uri is not None
        try:
            response = await self._client.get(trusted.jwks_uri, follow_redirects=False)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("cannot fetch the jwks of %s: %s", trusted.issuer, type(exc).__name__)
            raise ReceiverUnavailable(f"cannot fetch the jwks of `{trusted.issuer}`") from None
        return _import(body, trusted.issuer)


def _import(jwks: object, issuer: str) -> KeySet:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ReceiverUnavailable(f"the jwks of `{issuer}` is not a jwk set")
    try:
        return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError):
        raise ReceiverUnavailable(f"the jwks of `{issuer}` is not a jwk set") from None


def _pick(keys: KeySet, kid: str | None) -> Key | None:
    """The key named ``kid``; without a ``kid``, the only signing key if there is one."""
    if kid is None:
        signing = [k for k in keys.keys if k.get("use") in (None, "sig")]
        return signing[0] if len(signing) == 1 else None
    try:
        return keys.get_by_kid(kid)
    except JoseError:
        return None


class SsfReceiver:
    """Accepts SETs from trusted IdPs (push via :meth:`receive`, poll via :meth:`poll_once`
    and the :meth:`start` loop) and acts on those about a person."""

    def __init__(
        self,
        engine: AsyncEngine,
        audit: AuditSink,
        *,
        trusted: Sequence[Trusted],
        audience: str,
        act: Act,
        client: httpx.AsyncClient | None = None,
        poll_interval: float = 30.0,
        jwks_ttl: float = 3600.0,
        jwks_min_refresh: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._trusted = {t.issuer: t for t in trusted}
        self._audience = audience
        self._act = act
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._keys = _Keys(self._client, jwks_ttl, jwks_min_refresh)
        self._poll_interval = poll_interval
        self._clock = clock or _utcnow
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def trusted(self) -> tuple[Trusted, ...]:
        return tuple(self._trusted.values())

    async def receive(self, token: str, *, authorization: str | None = None) -> str:
        """Verify and act on a pushed SET (RFC 8935); the outcome as recorded.

        ``authorization`` is the request's ``Authorization`` header, checked only for an
        issuer configured with a ``push_token``. Raises :class:`SetRejected` (answer 400) or
        :class:`ReceiverUnavailable` (answer 5xx: the IdP retries)."""
        trusted, claims = await self._verify(token)
        if trusted.push_token is not None and not _bearer_matches(authorization, trusted):
            raise SetRejected("authentication_failed", "the push bearer token is not valid")
        return await self._accept(_signal(trusted.issuer, claims))

    async def _verify(
        self, token: str, *, issuer: str | None = None
    ) -> tuple[Trusted, dict[str, Any]]:
        header, unverified = _decode(token)
        iss = unverified.get("iss")
        trusted = self._trusted.get(iss) if isinstance(iss, str) else None
        if trusted is None or (issuer is not None and iss != issuer):
            raise SetRejected("invalid_issuer", f"issuer `{_shown(iss)}` is not trusted")
        key = await self._keys.find(trusted, _kid(header))
        if key is None:
            kid = _shown(header.get("kid"))
            raise SetRejected("invalid_key", f"no key `{kid}` in the jwks of `{trusted.issuer}`")
        claims = _verified_claims(token, key, str(header["alg"]))
        self._check_claims(claims)
        return trusted, claims

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if self._audience not in audiences(claims):
            raise SetRejected("invalid_audience", f"the set is not meant for `{self._audience}`")
        for name in ("sub", "exp"):
            if name in claims:
                raise SetRejected("invalid_request", f"a set must not carry `{name}` (ssf 1.0)")
        jti, iat = claims.get("jti"), claims.get("iat")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
            raise SetRejected("invalid_request", "the set has no usable `jti`")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise SetRejected("invalid_request", "the set has no `iat`")
        if iat > self._clock().timestamp() + IAT_LEEWAY:
            raise SetRejected("invalid_request", "the set's `iat` is in the future")

    async def _accept(self, signal: Signal) -> str:
        """Claim the jti (a replay is refused), act, then record the outcome."""
        now = self._clock()
        await self._claim(signal, now)
        try:
            outcome = await self._outcome(signal)
        except Exception as exc:
            await self._release(signal.jti)
            log.exception("acting on ssf event %s from %s failed", signal.jti, signal.issuer)
            raise ReceiverUnavailable("the event could not be acted on; send it again") from exc
        async with self._engine.begin() as conn:
            await conn.execute(
                update(ssf_received).where(ssf_received.c.jti == signal.jti).values(outcome=outcome)
            )
        await self._audit.record(LEDGER_EVENT, _ledger_payload(signal, outcome))
        return outcome

    async def _outcome(self, signal: Signal) -> str:
        if signal.event_type not in ACTED_ON:
            return f"ignored: event type `{signal.event_type}` is not acted on"
        if signal.person is None:
            return "ignored: the subject names no person warden knows by email"
        return " ".join((await self._act(signal)).split())[:1000] or "acted"

    async def _claim(self, signal: Signal, now: datetime) -> None:
        row = {
            "jti": signal.jti,
            "issuer": signal.issuer,
            "event_types": json.dumps([signal.event_type]),
            "subject": json.dumps(dict(signal.subject), sort_keys=True),
            "received_at": now.isoformat(),
            "outcome": "processing",
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(ssf_received).values(**row))
        except IntegrityError:
            raise SetReplayed(signal.jti) from None

    async def _release(self, jti: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ssf_received).where(ssf_received.c.jti == jti))

    # -- poll mode (RFC 8936) -------------------------------------------------------------

    async def poll_once(self, trusted: Trusted, *, max_events: int = 100) -> PollResult:
        """Drain ``trusted``'s poll endpoint (RFC 8936 §2.4): ask with ``returnImmediately``,
        act on each SET, acknowledge the accepted ones (and ones already received: their ack
        was lost), report refused ones in ``setErrs``, and leave those that failed for a
        transient reason unacknowledged so they come again. Stops when nothing more is
        available, after a last ack-only request."""
        if trusted.poll_url is None:
            raise ReceiverConfigError(f"`{trusted.issuer}` has no `poll_url`")
        acked: list[str] = []
        refused: dict[str, str] = {}
        deferred: list[str] = []
        ack: list[str] = []
        errs: dict[str, dict[str, str]] = {}
        fetch = True
        for _ in range(1000):  # a transmitter that always says moreAvailable cannot hold us
            sets, more = await self._poll(trusted, ack, errs, max_events if fetch else 0)
            if not fetch:
                break
            ack, errs = [], {}
            stalled = False
            for jti, token in sets.items():
                result = await self._poll_one(trusted, jti, token)
                if result is None:
                    ack.append(jti)
                elif result != "deferred":
                    errs[jti] = {"err": result.err, "description": result.description}
                else:
                    deferred.append(jti)
                    stalled = True
            acked += ack
            refused.update({jti: err["err"] for jti, err in errs.items()})
            # A deferred SET stays pending at the transmitter and may come straight back:
            # stop fetching until the next poll rather than spin on it.
            fetch = more and bool(sets) and not stalled
            if not (fetch or ack or errs):
                break
        return PollResult(tuple(acked), refused, tuple(deferred))

    async def _poll_one(
        self, trusted: Trusted, jti: str, token: object
    ) -> SetRejected | Literal["deferred"] | None:
        """None to acknowledge, the rejection to report, or ``"deferred"`` to leave it."""
        try:
            if not isinstance(token, str):
                raise SetRejected("invalid_request", "the set is not a string")
            _, claims = await self._verify(token, issuer=trusted.issuer)
            if claims.get("jti") != jti:
                raise SetRejected("invalid_request", "the set's `jti` differs from its key")
            await self._accept(_signal(trusted.issuer, claims))
        except SetReplayed:
            return None  # acted on before; our ack was lost
        except SetRejected as exc:
            return exc
        except ReceiverUnavailable:
            return "deferred"
        return None

    async def _poll(
        self, trusted: Trusted, ack: list[str], errs: dict[str, dict[str, str]], max_events: int
    ) -> tuple[dict[str, object], bool]:
        body: dict[str, Any] = {"maxEvents": max_events, "returnImmediately": True}
        if ack:
            body["ack"] = ack
        if errs:
            body["setErrs"] = errs
        headers = {"accept": "application/json"}
        if trusted.authorization is not None:
            headers["authorization"] = trusted.authorization
        assert trusted.poll_url is not None
        try:
            response = await self._client.post(trusted.poll_url, json=body, headers=headers)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("polling %s failed: %s", trusted.issuer, type(exc).__name__)
            raise ReceiverUnavailable(f"cannot poll `{trusted.issuer}`") from None
        return _poll_answer(answer, trusted.issuer)

    async def start(self) -> None:
        """Poll every trusted issuer that has a ``poll_url``, every ``poll_interval`` s."""
        if self._tasks:
            return
        for trusted in self._trusted.values():
            if trusted.poll_url is not None:
                name = f"warden-ssf-poll-{trusted.issuer}"
                self._tasks.append(asyncio.create_task(self._poll_loop(trusted), name=name))

    async def close(self) -> None:
        """Stop polling; close the HTTP client if the receiver made it."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._own_client:
            await self._client.aclose()

    async def _poll_loop(self, trusted: Trusted) -> None:
        while True:
            try:
                await self.poll_once(trusted)
            except Exception:  # logged; the loop must outlive an IdP outage
                log.warning("polling %s failed", trusted.issuer, exc_info=True)
            await asyncio.sleep(self._poll_interval)


def _poll_answer(answer: object, issuer: str) -> tuple[dict[str, object], bool]:
    """``{sets, moreAvailable}`` (RFC 8936 §2.5), checked."""
    if not isinstance(answer, dict) or not isinstance(answer.get("sets", {}), dict):
        raise ReceiverUnavailable(f"the poll answer of `{issuer}` is malformed")
    sets: dict[str, object] = answer.get("sets", {})
    return sets, answer.get("moreAvailable") is True


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header (checked: typ, alg) and unverified payload of a compact JWS."""
    token = token.strip()
    if len(token) > MAX_SET_BYTES or token.count(".") != 2:
        raise SetRejected("invalid_request", "the body is not a compact signed jwt")
    head, payload, _ = token.split(".")
    header, claims = _segment(head), _segment(payload)
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if typ != SET_TYP:
        raise SetRejected(
            "invalid_request", f"typ `{_shown(header.get('typ'))}` is not `{SET_TYP}`"
        )
    if header.get("alg") not in ALGS:
        raise SetRejected("invalid_key", f"alg `{_shown(header.get('alg'))}` is not accepted")
    return header, claims


def _segment(segment: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (ValueError, UnicodeError, binascii.Error):
        raise SetRejected("invalid_request", "the body is not a compact signed jwt") from None
    if not isinstance(value, dict):
        raise SetRejected("invalid_request", "the body is not a compact signed jwt")
    return value


def _shown(value: object) -> str:
    """An untrusted value for an error message: short, one line."""
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _kid(header: Mapping[str, Any]) -> str | None:
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _verified_claims(token: str, key: Key, alg: str) -> dict[str, Any]:
    if key.get("use") not in (None, "sig"):
        raise SetRejected("invalid_key", "the key is not a signing key")
    if key.key_type == "RSA" and _rsa_bits(key) < MIN_RSA_BITS:
        raise SetRejected("invalid_key", f"rsa keys must have at least {MIN_RSA_BITS} bits")
    try:
        verified = jws.deserialize_compact(token.strip(), key, algorithms=[alg])
        claims = json.loads(verified.payload)
    except (JoseError, ValueError):
        raise SetRejected("authentication_failed", "the set signature does not verify") from None
    if not isinstance(claims, dict):
        raise SetRejected("invalid_request", "the set claims are not a json object")
    return claims


def _rsa_bits(key: Key) -> int:
    n = str(key.get("n", ""))
    return len(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)).lstrip(b"\0")) * 8


def _bearer_matches(authorization: str | None, trusted: Trusted) -> bool:
    scheme, _, value = (authorization or "").partition(" ")
    expected = (trusted.push_token or "").encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected)


def _signal(issuer: str, claims: Mapping[str, Any]) -> Signal:
    """The one event of a verified SET, with its subject and person (SSF 1.0 §4.1.3)."""
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        raise SetRejected("invalid_request", "a set carries exactly one event")
    event_type, event = next(iter(events.items()))
    if not isinstance(event, dict):
        raise SetRejected("invalid_request", f"event `{event_type}` is not a json object")
    _check_event(event_type, event)
    # SSF 1.0 puts the subject in `sub_id`; CAEP drafts before it, in the event's `subject`.
    subject = claims.get("sub_id", event.get("subject"))
    if not isinstance(subject, dict):
        raise SetRejected("invalid_request", "the set has no subject (`sub_id`)")
    timestamp = event.get("event_timestamp")
    return Signal(
        issuer=issuer,
        jti=str(claims["jti"]),
        event_type=event_type,
        subject=subject,
        person=person_of(subject),
        reason_admin=_text(event.get("reason_admin")),
        event_timestamp=timestamp if isinstance(timestamp, int) else None,
        event={k: v for k, v in event.items() if k != "subject"},
    )


_REQUIRED: Final[Mapping[str, tuple[str, ...]]] = {
    CREDENTIAL_CHANGE: ("credential_type", "change_type"),  # CAEP 1.0 §3.2
    TOKEN_CLAIMS_CHANGE: ("claims",),  # CAEP 1.0 §3.3
}


def _check_event(event_type: str, event: Mapping[str, Any]) -> None:
    missing = [name for name in _REQUIRED.get(event_type, ()) if not event.get(name)]
    if missing:
        raise SetRejected("invalid_request", f"event `{event_type}` lacks `{missing[0]}`")


def person_of(subject: Mapping[str, Any]) -> str | None:
    """The email a subject identifier (RFC 9493, SSF 1.0 §3) names, lower-cased, or None.

    ``email``; ``iss_sub`` carrying an ``email`` member (some IdPs add it); ``aliases`` (the
    first identifier that names one); ``complex`` or a format-less object (its ``user``)."""
    fmt = subject.get("format")
    if fmt in ("email", "iss_sub"):
        return _email(subject.get("email"))
    if fmt == "aliases":
        ids = subject.get("identifiers")
        found = (person_of(i) for i in ids if isinstance(i, dict)) if isinstance(ids, list) else ()
        return next((p for p in found if p is not None), None)
    if fmt in ("complex", None) and isinstance(subject.get("user"), dict):
        return person_of(subject["user"])
    return None


def _email(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    ok = at and local and domain and "@" not in domain and len(email) <= 320
    return email if ok else None


def _text(value: object) -> str | None:
    """``reason_admin`` is a string or language-tagged strings (CAEP 1.0 §2): English first."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        chosen = value.get("en", next(iter(value.values())))
        return chosen if isinstance(chosen, str) else None
    return None


def _ledger_payload(signal: Signal, outcome: str) -> dict[str, Any]:
    return {
        "issuer": signal.issuer,
        "jti": signal.jti,
        "event_type": signal.event_type,
        "person": signal.person,
        "reason_admin": signal.reason_admin,
        "outcome": outcome,
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)
