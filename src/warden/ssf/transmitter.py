"""Warden as a Shared Signals transmitter: what the rest of Warden calls.

The kill switch and session suspension call :meth:`SsfTransmitter.session_revoked`,
credential rotation :meth:`~SsfTransmitter.credential_change`, entitlement changes
:meth:`~SsfTransmitter.token_claims_change`. Each returns once the SETs are committed to the
outbox (the number of streams they were queued on); delivery happens in the background
(:mod:`warden.ssf.delivery`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.ssf import events
from warden.ssf.delivery import Backoff, Delivery, PollRequest, exponential_backoff
from warden.ssf.errors import InvalidStreamConfig
from warden.ssf.events import ChangeType, CredentialType, InitiatingEntity, Reason
from warden.ssf.models import POLL
from warden.ssf.store import SsfStore
from warden.ssf.streams import AuditSink, StreamService
from warden.tokens.keys import KeyRing


class SsfTransmitter:
    """Streams, the outbox and its delivery, over one database and Warden's key ring."""

    def __init__(
        self,
        engine: AsyncEngine,
        keys: KeyRing,
        *,
        issuer: str,
        audit: AuditSink | None = None,
        client: httpx.AsyncClient | None = None,
        backoff: Backoff = exponential_backoff,
        timeout: float = 10.0,
        poll_wait: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.store = SsfStore(engine)
        self.delivery = Delivery(
            self.store,
            keys,
            issuer=self.issuer,
            client=client,
            backoff=backoff,
            timeout=timeout,
            poll_wait=poll_wait,
            clock=clock,
        )
        self.streams = StreamService(
            self.store, self.delivery, issuer=self.issuer, audit=audit, clock=clock
        )

    async def start(self) -> None:
        """Start push delivery (SETs left pending by a previous run go first)."""
        await self.delivery.start()

    async def close(self) -> None:
        """Stop delivery; undelivered SETs stay in the outbox for the next start."""
        await self.delivery.close()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) until every pushable SET was accepted by its receiver."""
        await self.delivery.drain(timeout)

    async def emit(
        self, event_type: str, event: Mapping[str, Any], *, txn: str | None = None
    ) -> int:
        """Queue one SET per stream that receives ``event_type``; durable on return.

        ``event`` is built by :mod:`warden.ssf.events` (it holds its ``subject``). ``txn``
        ties the SETs of one underlying cause together (SSF §4.1.9); one is made if absent.
        """
        events.check_event(event_type, event)
        streams = await self.streams.subscribed(event_type)
        if not streams:
            return 0
        return await self.delivery.queue(streams, event_type, event, txn=txn)

    async def session_revoked(
        self,
        subject: Mapping[str, Any],
        reason_admin: Reason,
        *,
        initiating_entity: InitiatingEntity | str = InitiatingEntity.ADMIN,
        at: datetime | None = None,
        reason_user: Reason | None = None,
        txn: str | None = None,
    ) -> int:
        """CAEP session-revoked: kill switch (agent, session, chain, person), suspension."""
        event = events.session_revoked(
            subject, reason_admin, initiating_entity, at, reason_user=reason_user
        )
        return await self.emit(events.SESSION_REVOKED, event, txn=txn)

    async def credential_change(
        self,
        subject: Mapping[str, Any],
        credential_type: CredentialType | str,
        change_type: ChangeType | str,
        *,
        reason_admin: Reason,
        initiating_entity: InitiatingEntity | str | None = None,
        at: datetime | None = None,
        txn: str | None = None,
        **optional: str,
    ) -> int:
        """CAEP credential-change: credential rotation or revocation (e.g. an SVID: x509).

        ``optional`` takes ``friendly_name``, ``x509_issuer``, ``x509_serial``,
        ``reason_user``."""
        event = events.credential_change(
            subject,
            credential_type,
            change_type,
            reason_admin=reason_admin,
            initiating_entity=initiating_entity,
            at=at,
            **optional,
        )
        return await self.emit(events.CREDENTIAL_CHANGE, event, txn=txn)

    async def token_claims_change(
        self,
        subject: Mapping[str, Any],
        claims: Mapping[str, Any],
        *,
        reason_admin: Reason | None = None,
        initiating_entity: InitiatingEntity | str | None = None,
        at: datetime | None = None,
        txn: str | None = None,
    ) -> int:
        """CAEP token-claims-change: entitlement changes (``claims`` = the new values)."""
        event = events.token_claims_change(
            subject,
            claims,
            reason_admin=reason_admin,
            initiating_entity=initiating_entity,
            at=at,
        )
        return await self.emit(events.TOKEN_CLAIMS_CHANGE, event, txn=txn)

    async def poll(self, stream_id: str, request: PollRequest) -> dict[str, Any]:
        """RFC 8936 poll on a poll stream."""
        stream = await self.streams.get(stream_id)
        if stream.delivery_method != POLL:
            raise InvalidStreamConfig(f"stream `{stream_id}` is not polled", field="stream_id")
        return await self.delivery.poll(stream, request)

    def configuration(self) -> dict[str, Any]:
        """Transmitter configuration metadata (SSF §7.1), CAEP interop profile members."""
        base = self.issuer
        return {
            "spec_version": "1_0",
            "issuer": base,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
            "configuration_endpoint": f"{base}/ssf/streams",
            "status_endpoint": f"{base}/ssf/status",
            "verification_endpoint": f"{base}/ssf/verify",
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
        }
