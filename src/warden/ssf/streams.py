"""Stream management (SSF 1.0 §8.1): create, read, update (PATCH), replace (PUT), delete,
status, verification.

Receiver-supplied members are ``delivery``, ``events_requested`` and ``description``;
``events_delivered`` is what Warden supports among those requested (§8.1.1: unknown event
types are ignored); without ``events_requested`` a stream gets every supported event.
Transmitter-supplied members (``iss``, ``aud``, ``events_supported``, ``events_delivered``...)
may appear in an update only with their current value (§8.1.1.3-4).

Without ``delivery`` a stream is polled (§8.1.1.1), at ``<issuer>/ssf/poll/<stream_id>``.
``aud`` is transmitter-supplied; Warden takes it from the create request when given (an
administrator sets up the stream for a receiver), else the push endpoint's origin, else the
caller's name. A push stream's ``authorization_header`` is write-only: it is never returned,
so a PATCH of ``delivery`` to the same endpoint keeps it, while a PUT without it removes it
(§8.1.1.4: missing receiver-supplied members are deleted).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from warden.ssf.delivery import Delivery
from warden.ssf.errors import InvalidStreamConfig, StreamDisabled, StreamNotFound
from warden.ssf.events import EVENTS_SUPPORTED, VERIFICATION, verification
from warden.ssf.models import DELIVERY_METHODS, POLL, PUSH, Stream, StreamStatus
from warden.ssf.store import SsfStore

MAX_DESCRIPTION = 1000
MAX_EVENT_TYPES = 100
_TRANSMITTER_SUPPLIED = (
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
    "inactivity_timeout",
)


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class StreamService:
    def __init__(
        self,
        store: SsfStore,
        delivery: Delivery,
        *,
        issuer: str,
        audit: AuditSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._delivery = delivery
        self._issuer = issuer
        self._audit = audit
        self._clock = clock

    def poll_url(self, stream_id: str) -> str:
        return f"{self._issuer.rstrip('/')}/ssf/poll/{stream_id}"

    async def create(self, body: Mapping[str, Any], *, actor: str) -> Stream:
        """A new stream (§8.1.1.1); a receiver may hold several."""
        stream_id, now = uuid.uuid4().hex, self._clock()
        method, endpoint, authorization = self._delivery_of(body.get("delivery"), stream_id)
        requested = _events_requested(body.get("events_requested", list(EVENTS_SUPPORTED)))
        stream = Stream(
            id=stream_id,
            audience=_audience(body.get("aud"), method, endpoint, actor),
            events_requested=requested,
            events_delivered=_delivered(requested),
            delivery_method=method,
            endpoint_url=endpoint,
            authorization_header=authorization,
            status=StreamStatus.ENABLED,
            status_reason=None,
            description=_description(body.get("description")),
            created_at=now,
            updated_at=now,
        )
        await self._store.insert_stream(stream)
        await self._record("ssf:stream:created", stream, actor)
        return stream

    async def get(self, stream_id: str) -> Stream:
        stream = await self._store.stream(stream_id)
        if stream is None:
            raise StreamNotFound(f"no stream `{stream_id}`")
        return stream

    async def all(self) -> list[Stream]:
        return await self._store.streams()

    async def update(self, body: Mapping[str, Any], *, actor: str) -> Stream:
        """PATCH (§8.1.1.3): only the members present change."""
        stream = await self.get(_stream_id(body))
        self._check_transmitter_supplied(stream, body)
        changes: dict[str, Any] = {}
        if "delivery" in body:
            method, endpoint, auth = self._delivery_of(body["delivery"], stream.id)
            same = (method, endpoint) == (stream.delivery_method, stream.endpoint_url)
            if same and "authorization_header" not in (body["delivery"] or {}):
                auth = stream.authorization_header
            changes.update(delivery_method=method, endpoint_url=endpoint)
            changes["authorization_header"] = auth
        if "events_requested" in body:
            requested = _events_requested(body["events_requested"])
            changes.update(events_requested=requested, events_delivered=_delivered(requested))
        if "description" in body:
            changes["description"] = _description(body["description"])
        return await self._save(replace(stream, **changes), actor)

    async def replace(self, body: Mapping[str, Any], *, actor: str) -> Stream:
        """PUT (§8.1.1.4): every receiver-supplied member; a missing one is removed."""
        stream = await self.get(_stream_id(body))
        self._check_transmitter_supplied(stream, body)
        method, endpoint, auth = self._delivery_of(body.get("delivery"), stream.id)
        requested = _events_requested(body.get("events_requested", []))
        updated = replace(
            stream,
            delivery_method=method,
            endpoint_url=endpoint,
            authorization_header=auth,
            events_requested=requested,
            events_delivered=_delivered(requested),
            description=_description(body.get("description")),
        )
        return await self._save(updated, actor)

    async def delete(self, stream_id: str, *, actor: str) -> None:
        """Delete the stream and the SETs still queued on it (§8.1.1.5)."""
        stream = await self.get(stream_id)
        if not await self._store.delete_stream(stream_id):
            raise StreamNotFound(f"no stream `{stream_id}`")
        await self._record("ssf:stream:deleted", stream, actor)

    async def set_status(self, stream_id: str, status: Any, reason: Any, *, actor: str) -> Stream:
        """§8.1.2.2. ``disabled`` drops what is queued; ``enabled`` sends what was held."""
        try:
            new_status = StreamStatus(status)
        except ValueError:
            raise InvalidStreamConfig(
                "`status` must be enabled, paused or disabled", field="status"
            ) from None
        if reason is not None and not isinstance(reason, str):
            raise InvalidStreamConfig("`reason` must be a string", field="reason")
        stream = await self.get(stream_id)
        updated = replace(stream, status=new_status, status_reason=reason or None)
        return await self._save(updated, actor)

    async def verify(self, stream_id: str, state: Any = None) -> None:
        """Queue a verification event on the stream (§8.1.4.2)."""
        if state is not None and (not isinstance(state, str) or len(state) > 1024):
            raise InvalidStreamConfig("`state` must be a string of up to 1024", field="state")
        stream = await self.get(stream_id)
        if stream.status is StreamStatus.DISABLED:
            raise StreamDisabled(f"stream `{stream_id}` is disabled")
        await self._delivery.queue([stream], VERIFICATION, verification(stream.id, state))

    async def subscribed(self, event_type: str) -> list[Stream]:
        """The streams an event of ``event_type`` is queued on (enabled or paused)."""
        return [s for s in await self._store.streams() if s.carries(event_type)]

    async def _save(self, stream: Stream, actor: str) -> Stream:
        stream = replace(stream, updated_at=self._clock())
        if not await self._store.replace_stream(stream):
            raise StreamNotFound(f"no stream `{stream.id}`")
        if stream.status is StreamStatus.ENABLED:
            self._delivery.notify([stream.id])  # held or newly pushable SETs go out now
        await self._record("ssf:stream:updated", stream, actor)
        return stream

    def _delivery_of(self, delivery: Any, stream_id: str) -> tuple[str, str | None, str | None]:
        """``(method, endpoint_url, authorization_header)`` from a ``delivery`` member."""
        if delivery is None:
            return POLL, self.poll_url(stream_id), None
        if not isinstance(delivery, Mapping):
            raise InvalidStreamConfig("`delivery` must be an object", field="delivery")
        method = delivery.get("method", POLL)
        if method not in DELIVERY_METHODS:
            raise InvalidStreamConfig(
                f"delivery method `{method}` is not supported: use {' or '.join(DELIVERY_METHODS)}",
                field="delivery.method",
            )
        if method == POLL:
            given = delivery.get("endpoint_url")
            if given is not None and given != self.poll_url(stream_id):
                raise InvalidStreamConfig(
                    "the poll endpoint is set by warden", field="delivery.endpoint_url"
                )
            return POLL, self.poll_url(stream_id), None
        return PUSH, _push_url(delivery.get("endpoint_url")), _authorization(delivery)

    def _check_transmitter_supplied(self, stream: Stream, body: Mapping[str, Any]) -> None:
        current = stream.configuration(self._issuer)
        for name in _TRANSMITTER_SUPPLIED:
            if name in body and _normal(body[name]) != _normal(current.get(name)):
                raise InvalidStreamConfig(
                    f"`{name}` is set by the transmitter and cannot be changed", field=name
                )

    async def _record(self, event_type: str, stream: Stream, actor: str) -> None:
        if self._audit is None:
            return
        payload = {
            "stream_id": stream.id,
            "audience": list(stream.audience),
            "delivery_method": stream.delivery_method,
            "endpoint": _origin(stream.endpoint_url),  # a URL's path may hold a secret
            "events_delivered": list(stream.events_delivered),
            "status": stream.status.value,
            "actor": actor,
        }
        await self._audit.record(event_type, payload)


def _stream_id(body: Mapping[str, Any]) -> str:
    stream_id = body.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidStreamConfig("`stream_id` is required", field="stream_id")
    return stream_id


def _events_requested(value: Any) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidStreamConfig(
            "`events_requested` must be an array of uris", field="events_requested"
        )
    if len(value) > MAX_EVENT_TYPES or not all(isinstance(v, str) for v in value):
        raise InvalidStreamConfig(
            f"`events_requested` must be up to {MAX_EVENT_TYPES} uris", field="events_requested"
        )
    return tuple(dict.fromkeys(value))


def _delivered(requested: Sequence[str]) -> tuple[str, ...]:
    """requested ∩ supported, in the order requested (§8.1.1)."""
    return tuple(e for e in requested if e in EVENTS_SUPPORTED)


def _audience(value: Any, method: str, endpoint: str | None, actor: str) -> tuple[str, ...]:
    if value is None:
        origin = _origin(endpoint) if method == PUSH else None
        return (origin or actor,)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(a, str) and a for a in items):
        raise InvalidStreamConfig("`aud` must be a string or an array of strings", field="aud")
    return tuple(items)


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidStreamConfig("`description` must be a string", field="description")
    return value[:MAX_DESCRIPTION] or None


def _push_url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidStreamConfig(
            "push delivery needs an http(s) `endpoint_url`", field="delivery.endpoint_url"
        )
    if len(value) > 2048:
        raise InvalidStreamConfig("`endpoint_url` is too long", field="delivery.endpoint_url")
    try:
        httpx.URL(value)
    except httpx.InvalidURL:
        raise InvalidStreamConfig(
            "`endpoint_url` is not a valid url", field="delivery.endpoint_url"
        ) from None
    return value


def _authorization(delivery: Mapping[str, Any]) -> str | None:
    value = delivery.get("authorization_header")
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 4096 or "\n" in value:
        raise InvalidStreamConfig(
            "`authorization_header` must be one header value",
            field="delivery.authorization_header",
        )
    return value


def _normal(value: Any) -> Any:
    """Compare a string and a one-element array alike (``aud`` may be either)."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
