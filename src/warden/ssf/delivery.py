"""The SET outbox and its two delivery methods: push (RFC 8935) and poll (RFC 8936).

:meth:`Delivery.queue` signs one SET per stream and commits them all to ``ssf_outbox`` before
it returns, so an event survives a crash or a restart the moment Warden says it was sent.

**Push** (RFC 8935 §2): a background task per stream POSTs its oldest undelivered SET as
``application/secevent+jwt`` with the stream's ``authorization_header``; 202 (or 200) means
the receiver took it. Anything else — a 4xx/5xx, a timeout, a refused connection — is
retried with exponential backoff (``backoff(attempt)`` seconds, by default 0.5 s doubling to
60 s) and never dropped; the next SET of that stream waits, so a receiver sees its events in
order. Pending SETs are picked up again by :meth:`Delivery.start` after a restart. A SET a
receiver keeps refusing (400 ``invalid_key``...) therefore holds up its stream until someone
acts — its ``last_error`` is in the outbox — which is the price of losing nothing.

**Poll** (RFC 8936 §2.4): the receiver POSTs ``{ack, setErrs, maxEvents, returnImmediately}``
and gets ``{sets: {jti: SET}, moreAvailable}``; acknowledged SETs (and those it reported
errors for) are never returned again, the rest are until acknowledged. Without
``returnImmediately`` the request waits up to ``poll_wait`` seconds (≤ 30) and returns as soon
as an event is queued on that stream.

Tasks wake on :meth:`queue` through asyncio events, not on a timer; a slow rescan (every
``rescan`` seconds) only picks up SETs another replica queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from warden.ssf.models import PUSH, Stream, StreamStatus
from warden.ssf.set import set_claims, sign_set
from warden.ssf.store import QueuedSet, SsfStore
from warden.tokens.keys import KeyRing

log = logging.getLogger("warden.ssf")

Backoff = Callable[[int], float]
"""Seconds to wait before retrying a SET that failed ``attempt`` times (1, 2, ...)."""

SET_CONTENT_TYPE = "application/secevent+jwt"
MAX_POLL_WAIT = 30.0
DEFAULT_MAX_EVENTS = 100
MAX_EVENTS = 1000


def exponential_backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s ... capped at 60 s."""
    return float(min(0.5 * 2 ** min(attempt - 1, 16), 60.0))


@dataclass(frozen=True, slots=True)
class PollRequest:
    """RFC 8936 §2.4.1; ``set_errs`` maps a jti to ``{"err", "description"}``."""

    ack: tuple[str, ...] = ()
    set_errs: Mapping[str, Mapping[str, str]] | None = None
    max_events: int | None = None
    return_immediately: bool = False


class Delivery:
    """Queues SETs and delivers them (see the module docstring)."""

    def __init__(
        self,
        store: SsfStore,
        keys: KeyRing,
        *,
        issuer: str,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff = exponential_backoff,
        timeout: float = 10.0,
        poll_wait: float = MAX_POLL_WAIT,
        rescan: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._keys = keys
        self._issuer = issuer
        self._client = client
        self._own_client = client is None
        self._backoff = backoff
        self._timeout = timeout
        self._poll_wait = min(poll_wait, MAX_POLL_WAIT)
        self._rescan = rescan
        self._clock = clock
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._closed = False
        self._stopping = asyncio.Event()

    # -- queueing ------------------------------------------------------------------------------

    async def queue(
        self,
        streams: Sequence[Stream],
        event_type: str,
        event: Mapping[str, Any],
        *,
        txn: str | None = None,
    ) -> int:
        """Sign ``event`` once per stream and commit every SET; returns how many."""
        now = self._clock()
        txn = txn or uuid.uuid4().hex  # SSF §4.1.9: one txn for one underlying event
        rows = []
        for stream in streams:
            claims = set_claims(
                issuer=self._issuer,
                audience=stream.audience,
                event_type=event_type,
                event=event,
                now=now,
                txn=txn,
            )
            rows.append((stream.id, claims["jti"], sign_set(claims, self._keys)))
        await self._store.enqueue(rows, now)
        self.notify([s.id for s in streams])
        return len(rows)

    def notify(self, stream_ids: Sequence[str] = ()) -> None:
        """Wake the push senders, and the long polls of ``stream_ids``."""
        self._wake.set()
        for stream_id in stream_ids:
            for waiter in self._waiters.get(stream_id, ()):
                waiter.set()

    # -- push ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start pushing, beginning with whatever is pending from before a restart."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        self._closed = False
        self._stopping = asyncio.Event()
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="warden-ssf-push")

    async def close(self) -> None:
        """Stop sending: a POST in flight may finish (bounded by the timeout) so its outcome
        is recorded; undelivered SETs stay in the outbox for the next start."""
        self._stopping.set()
        self._wake.set()
        senders = list(self._senders.values())
        if senders:
            await asyncio.wait(senders, timeout=self._timeout)
        tasks = [t for t in (self._supervisor, *senders) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._supervisor = None
        self._senders.clear()
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self, timeout: float) -> None:
        """Wait until no SET is pending on an enabled push stream; TimeoutError after
        ``timeout`` seconds. For tests and orderly shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._progress.clear()
            if await self._store.push_pending_count() == 0:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("the ssf outbox did not drain in time")
            await _wait(self._progress, min(remaining, self._rescan))

    async def _supervise(self) -> None:
        """Keep one sender task per enabled push stream with pending SETs."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                streams = await self._store.push_streams_pending()
            except Exception:  # the store is down: try again on the next wake or rescan
                log.exception("could not read the ssf outbox")
                streams = []
            for stream in streams:
                sender = self._senders.get(stream.id)
                if sender is None or sender.done():
                    task = asyncio.create_task(self._send_all(stream.id), name="warden-ssf-send")
                    task.add_done_callback(lambda _: self._wake.set())
                    self._senders[stream.id] = task
            await _wait(self._wake, self._rescan)

    async def _send_all(self, stream_id: str) -> None:
        """Send ``stream_id``'s SETs one at a time, oldest first, until none is left."""
        while not self._stopping.is_set():
            stream = await self._store.stream(stream_id)
            if stream is None or stream.status is not StreamStatus.ENABLED:
                return
            if stream.delivery_method != PUSH:
                return
            head = await self._store.head(stream_id)
            if head is None:
                return
            await self._attempt(stream, head)

    async def _attempt(self, stream: Stream, head: QueuedSet) -> None:
        now = self._clock()
        if head.next_attempt_at is not None and head.next_attempt_at > now:
            # Woken early only to stop.
            await _wait(self._stopping, (head.next_attempt_at - now).total_seconds())
            return
        lease = now + timedelta(seconds=self._timeout + 5)  # another replica waits this long
        if not await self._store.claim(head.seq, now, lease):
            return
        problem = await self._post(stream, head.token)
        if problem is None:
            await self._store.mark_delivered(head.seq, self._clock())
        else:
            delay = self._backoff(head.attempts + 1)
            retry_at = self._clock() + timedelta(seconds=delay)
            await self._store.mark_failed(head.seq, retry_at, problem)
            log.warning(
                "ssf set %s to stream %s failed (%s); retry %d in %.2fs",
                head.jti,
                stream.id,
                problem,
                head.attempts + 1,
                delay,
            )
        self._progress.set()

    async def _post(self, stream: Stream, token: str) -> str | None:
        """POST one SET (RFC 8935 §2); None when the receiver took it, else why not."""
        assert self._client is not None and stream.endpoint_url is not None
        headers = {"content-type": SET_CONTENT_TYPE, "accept": "application/json"}
        if stream.authorization_header:
            headers["authorization"] = stream.authorization_header
        try:
            response = await self._client.post(
                stream.endpoint_url, content=token, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.status_code in (200, 202):
            return None
        return f"HTTP {response.status_code}{_receiver_error(response)}"

    # -- poll ----------------------------------------------------------------------------------

    def long_polls(self, stream_id: str) -> int:
        """How many poll requests are waiting on ``stream_id`` now."""
        return len(self._waiters.get(stream_id, ()))

    async def poll(self, stream: Stream, request: PollRequest) -> dict[str, Any]:
        """One RFC 8936 poll on ``stream``: acknowledge, then return what is pending."""
        errors = {
            jti: f"{e.get('err', '')}: {e.get('description', '')}".strip(": ")[:500]
            for jti, e in (request.set_errs or {}).items()
        }
        await self._store.acknowledge(stream.id, request.ack, errors, self._clock())
        limit = DEFAULT_MAX_EVENTS if request.max_events is None else request.max_events
        limit = min(limit, MAX_EVENTS)
        if limit <= 0 or stream.status is not StreamStatus.ENABLED:
            return {"sets": {}, "moreAvailable": False}
        waiter = asyncio.Event()
        self._waiters.setdefault(stream.id, set()).add(waiter)
        try:
            return await self._collect(stream.id, limit, request.return_immediately, waiter)
        finally:
            self._waiters[stream.id].discard(waiter)
            if not self._waiters[stream.id]:
                del self._waiters[stream.id]

    async def _collect(
        self, stream_id: str, limit: int, immediately: bool, waiter: asyncio.Event
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._poll_wait
        while True:
            waiter.clear()
            queued, more = await self._store.unacknowledged(stream_id, limit)
            remaining = deadline - loop.time()
            if queued or immediately or remaining <= 0 or self._closed:
                return {"sets": {q.jti: q.token for q in queued}, "moreAvailable": more}
            # Wakes on queue(); the rescan bound catches SETs another replica queued.
            await _wait(waiter, min(remaining, self._rescan))


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` seconds pass. (``asyncio.wait_for`` on 3.11 can
    swallow a cancellation that races the event, and a task would then never stop.)"""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(timeout, 0))
    finally:
        waiter.cancel()


def _receiver_error(response: httpx.Response) -> str:
    """`` (err)`` from an RFC 8935 §2.4 error body; the description stays out (it may echo
    the token)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    err = body.get("err") if isinstance(body, dict) else None
    return f" ({err})" if isinstance(err, str) and err.isascii() and len(err) < 64 else ""
