"""Webhook alerts: a JSON (or Slack-compatible) POST per alert, retried with backoff.

Configured with ``WARDEN_ALERT_WEBHOOKS``: comma-separated URLs; prefix one with ``slack:`` to
send Slack's incoming-webhook payload (``{"text": ...}``) instead of Warden's JSON. With
``WARDEN_ALERT_WEBHOOK_SECRET`` set, every POST carries ``Warden-Signature: t=<unix>,v1=<hex>``,
the HMAC-SHA-256 of ``"<t>." + body`` under that secret (so a receiver can tell Warden's alerts
from forgeries and refuse replays), and ``Warden-Alert-Id`` for de-duplication.

Delivery never holds up a decision: :meth:`WebhookNotifier.notify` queues and returns. Each
webhook has its own queue and worker, so one receiver being down delays only its own alerts,
which keep their order. A failed POST (network error, timeout, 408, 429 or 5xx) is retried
with exponential backoff up to ``attempts`` times; another 4xx is not retried. Alerts are also
in the audit ledger, so one given up on is logged (never its content) but not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
import orjson

log = logging.getLogger("warden.alerts")

ENV_WEBHOOKS = "WARDEN_ALERT_WEBHOOKS"
ENV_SECRET = "WARDEN_ALERT_WEBHOOK_SECRET"
_RETRY_STATUS = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Alert:
    """Something people should know now. ``details`` holds ids, reason codes and
    explanations — never argument values or credentials."""

    kind: str  # e.g. "session.suspended"
    summary: str  # one line a person reads first
    severity: str  # "high" or "critical"
    at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "at": self.at.isoformat(),
            "details": dict(self.details),
            "source": "warden",
        }


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    format: Literal["json", "slack"] = "json"

    def body(self, alert: Alert) -> bytes:
        if self.format == "slack":
            emoji = ":rotating_light:" if alert.severity == "critical" else ":warning:"
            text = f"{emoji} *Warden* {alert.summary}"
            why = alert.details.get("explanation")
            if why:
                text += f"\n>{why}"
            return orjson.dumps({"text": text})
        return orjson.dumps(alert.to_dict(), default=str)


def webhooks_from_env(env: Mapping[str, str] | None = None) -> tuple[Webhook, ...]:
    """The webhooks named in ``WARDEN_ALERT_WEBHOOKS``; raises ValueError for a bad entry."""
    env = os.environ if env is None else env
    hooks = []
    for entry in (env.get(ENV_WEBHOOKS) or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        kind: Literal["json", "slack"] = "json"
        if entry.startswith("slack:"):
            kind, entry = "slack", entry.removeprefix("slack:")
        if not entry.startswith(("https://", "http://")):
            raise ValueError(f"{ENV_WEBHOOKS}: `{_redacted(entry)}` is not an http(s) URL")
        hooks.append(Webhook(entry, kind))
    return tuple(hooks)


def secret_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    env = os.environ if env is None else env
    secret = env.get(ENV_SECRET)
    return secret.encode() if secret else None


class WebhookNotifier:
    """Posts alerts to webhooks in the background (see the module docstring)."""

    def __init__(
        self,
        webhooks: Sequence[Webhook],
        *,
        secret: bytes | None = None,
        attempts: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
        capacity: int = 10_000,
    ) -> None:
        self.webhooks = tuple(webhooks)
        self._secret = secret
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._timeout = timeout
        self._capacity = capacity
        self._queues: dict[Webhook, asyncio.Queue[Alert]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0
        self.given_up = 0
        self.dropped = 0

    def notify(self, alert: Alert) -> None:
        """Queue ``alert`` for every webhook; returns at once (call from the event loop)."""
        if not self.webhooks:
            return
        if not self._queues:
            self._start()
        for queue in self._queues.values():
            if queue.qsize() >= self._capacity:
                self.dropped += 1  # still in the ledger; the oldest queued alert stays first
                log.error("alert queue full; alert %s not sent to one webhook", alert.id)
                continue
            queue.put_nowait(alert)

    async def drained(self) -> None:
        """Wait until every queued alert was delivered or given up on."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Give queued alerts up to ``timeout`` seconds to go out, then stop."""
        if self._queues:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained(), timeout)
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout)
        for hook in self.webhooks:
            queue: asyncio.Queue[Alert] = asyncio.Queue()
            self._queues[hook] = queue
            self._workers.append(
                asyncio.create_task(self._work(hook, queue), name="warden-alert-webhook")
            )

    async def _work(self, hook: Webhook, queue: asyncio.Queue[Alert]) -> None:
        while True:
            alert = await queue.get()
            try:
                await self._deliver(hook, alert)
            except Exception:  # never let one alert stop the worker
                log.exception("alert %s could not be sent", alert.id)
                self.given_up += 1
            finally:
                queue.task_done()

    async def _deliver(self, hook: Webhook, alert: Alert) -> None:
        assert self._client is not None
        body = hook.body(alert)
        delay = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(
                    hook.url, content=body, headers=self._headers(alert, body)
                )
                status = response.status_code
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                retry = status >= 500 or status in _RETRY_STATUS
                problem = f"HTTP {status}"
            except httpx.HTTPError as exc:
                retry, problem = True, type(exc).__name__
            if not retry or attempt == self._attempts:
                break
            log.warning(
                "alert %s to %s failed (%s); retrying in %.1fs",
                alert.id,
                _redacted(hook.url),
                problem,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
        self.given_up += 1
        log.error(
            "alert %s to %s given up after %d attempt(s): %s (it is in the ledger)",
            alert.id,
            _redacted(hook.url),
            attempt,
            problem,
        )

    def _headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        headers = {"content-type": "application/json", "warden-alert-id": alert.id}
        if self._secret:
            stamp = str(int(time.time()))
            mac = hmac.new(self._secret, stamp.encode() + b"." + body, hashlib.sha256)
            headers["warden-signature"] = f"t={stamp},v1={mac.hexdigest()}"
        return headers


def _redacted(url: str) -> str:
    """A webhook URL without its path and query (Slack's carry the secret in the path)."""
    parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    if parsed is None:
        return "…"
    return f"{parsed.scheme}://{parsed.host}{':' + str(parsed.port) if parsed.port else ''}/…"
