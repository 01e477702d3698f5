"""Streams and the SET outbox on SQLAlchemy Core: the same SQL on SQLite and PostgreSQL.

``ssf_streams`` holds each stream's configuration and status; ``ssf_outbox`` every signed SET
until its receiver took it (push: answered 202; poll: acknowledged). The outbox is the
durable queue: a SET is committed before :meth:`SsfStore.enqueue` returns, and leaves only by
:meth:`mark_delivered` / :meth:`acknowledge`, or with its stream (deleted, or disabled:
SSF §8.1.2 says a disabled stream holds nothing).

Timestamps are UTC ISO strings with microseconds, so comparing strings compares instants.
Sending is claimed with a conditional ``UPDATE`` (``next_attempt_at`` moved past the send's
timeout), so two Warden replicas sharing the store never push the same SET at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.ssf.models import PUSH, Stream, StreamStatus
from warden.store.schema import ssf_outbox, ssf_streams


@dataclass(frozen=True, slots=True)
class QueuedSet:
    """One SET waiting in the outbox."""

    seq: int
    stream_id: str
    jti: str
    token: str
    attempts: int
    next_attempt_at: datetime | None


class SsfStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- streams -------------------------------------------------------------------------------

    async def insert_stream(self, stream: Stream) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(ssf_streams).values(**_stream_row(stream)))

    async def stream(self, stream_id: str) -> Stream | None:
        query = select(ssf_streams).where(ssf_streams.c.id == stream_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _stream(row._mapping)

    async def streams(self) -> list[Stream]:
        query = select(ssf_streams).order_by(ssf_streams.c.created_at, ssf_streams.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_stream(r._mapping) for r in rows]

    async def replace_stream(self, stream: Stream) -> bool:
        """Write ``stream``'s configuration and status; False if it was deleted meanwhile."""
        row = _stream_row(stream)
        del row["id"], row["created_at"]
        statement = update(ssf_streams).where(ssf_streams.c.id == stream.id).values(**row)
        async with self._engine.begin() as conn:
            updated = (await conn.execute(statement)).rowcount == 1
            if updated and stream.status is StreamStatus.DISABLED:
                await conn.execute(_pending(stream.id, delete(ssf_outbox)))
        return updated

    async def delete_stream(self, stream_id: str) -> bool:
        """Delete the stream and every SET still queued for it."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(ssf_outbox).where(ssf_outbox.c.stream_id == stream_id))
            statement = delete(ssf_streams).where(ssf_streams.c.id == stream_id)
            return (await conn.execute(statement)).rowcount == 1

    # -- outbox --------------------------------------------------------------------------------

    async def enqueue(self, queued: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Insert ``(stream_id, jti, token)`` rows in one transaction (durable on return)."""
        if not queued:
            return
        rows = [
            {"stream_id": s, "jti": j, "token": t, "created_at": _when(now), "attempts": 0}
            for s, j, t in queued
        ]
        async with self._engine.begin() as conn:
            await conn.execute(insert(ssf_outbox), rows)

    async def push_streams_pending(self) -> list[Stream]:
        """Enabled push streams with at least one SET not yet delivered."""
        pending = select(ssf_outbox.c.stream_id).where(ssf_outbox.c.delivered_at.is_(None))
        query = select(ssf_streams).where(
            ssf_streams.c.delivery_method == PUSH,
            ssf_streams.c.status == StreamStatus.ENABLED.value,
            ssf_streams.c.id.in_(pending),
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_stream(r._mapping) for r in rows]

    async def push_pending_count(self) -> int:
        """SETs waiting for push on enabled streams (what :meth:`drain` waits for)."""
        enabled_push = select(ssf_streams.c.id).where(
            ssf_streams.c.delivery_method == PUSH,
            ssf_streams.c.status == StreamStatus.ENABLED.value,
        )
        query = select(func.count()).where(
            ssf_outbox.c.delivered_at.is_(None), ssf_outbox.c.stream_id.in_(enabled_push)
        )
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def head(self, stream_id: str) -> QueuedSet | None:
        """The oldest SET not yet delivered on ``stream_id`` (sent strictly in order)."""
        query = _pending(stream_id, select(ssf_outbox)).order_by(ssf_outbox.c.seq).limit(1)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _queued(row._mapping)

    async def claim(self, seq: int, now: datetime, until: datetime) -> bool:
        """Take SET ``seq`` for one send attempt; False if it is delivered or taken."""
        c = ssf_outbox.c
        statement = (
            update(ssf_outbox)
            .where(
                c.seq == seq,
                c.delivered_at.is_(None),
                or_(c.next_attempt_at.is_(None), c.next_attempt_at <= _when(now)),
            )
            .values(attempts=c.attempts + 1, next_attempt_at=_when(until))
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def mark_delivered(self, seq: int, now: datetime) -> None:
        statement = (
            update(ssf_outbox)
            .where(ssf_outbox.c.seq == seq)
            .values(delivered_at=_when(now), last_error=None)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def mark_failed(self, seq: int, retry_at: datetime, error: str) -> None:
        statement = (
            update(ssf_outbox)
            .where(ssf_outbox.c.seq == seq)
            .values(next_attempt_at=_when(retry_at), last_error=error[:500])
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def unacknowledged(self, stream_id: str, limit: int) -> tuple[list[QueuedSet], bool]:
        """Up to ``limit`` SETs not acknowledged, oldest first, and whether there are more."""
        query = _pending(stream_id, select(ssf_outbox)).order_by(ssf_outbox.c.seq)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit + 1))).all()
        queued = [_queued(r._mapping) for r in rows]
        return queued[:limit], len(queued) > limit

    async def acknowledge(
        self, stream_id: str, acks: Iterable[str], errors: Mapping[str, str], now: datetime
    ) -> int:
        """RFC 8936 §2.4: acknowledged SETs, and those the receiver reported errors for, are
        not returned again. Only SETs of ``stream_id`` count (another stream's jti is ignored)."""
        done = 0
        async with self._engine.begin() as conn:
            for jtis, error in ((list(acks), None), *(([j], e) for j, e in errors.items())):
                if not jtis:
                    continue
                statement = (
                    _pending(stream_id, update(ssf_outbox))
                    .where(ssf_outbox.c.jti.in_(jtis))
                    .values(delivered_at=_when(now), last_error=error)
                )
                done += (await conn.execute(statement)).rowcount
        return done

    async def outbox(self, stream_id: str) -> list[dict[str, Any]]:
        """Every row of ``stream_id``'s outbox, for status pages and tests."""
        query = select(ssf_outbox).where(ssf_outbox.c.stream_id == stream_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(ssf_outbox.c.seq))).all()
        return [dict(r._mapping) for r in rows]


def _pending(stream_id: str, statement: Any) -> Any:
    return statement.where(
        and_(ssf_outbox.c.stream_id == stream_id, ssf_outbox.c.delivered_at.is_(None))
    )


def _stream_row(stream: Stream) -> dict[str, Any]:
    return {
        "id": stream.id,
        "audience": orjson.dumps(list(stream.audience)).decode(),
        "events_requested": orjson.dumps(list(stream.events_requested)).decode(),
        "events_delivered": orjson.dumps(list(stream.events_delivered)).decode(),
        "delivery_method": stream.delivery_method,
        "endpoint_url": stream.endpoint_url,
        "authorization_header": stream.authorization_header,
        "status": stream.status.value,
        "status_reason": stream.status_reason,
        "description": stream.description,
        "created_at": _when(stream.created_at),
        "updated_at": _when(stream.updated_at),
    }


def _stream(row: RowMapping) -> Stream:
    return Stream(
        id=row["id"],
        audience=tuple(orjson.loads(row["audience"])),
        events_requested=tuple(orjson.loads(row["events_requested"])),
        events_delivered=tuple(orjson.loads(row["events_delivered"])),
        delivery_method=row["delivery_method"],
        endpoint_url=row["endpoint_url"],
        authorization_header=row["authorization_header"],
        status=StreamStatus(row["status"]),
        status_reason=row["status_reason"],
        description=row["description"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _queued(row: RowMapping) -> QueuedSet:
    retry = row["next_attempt_at"]
    return QueuedSet(
        seq=row["seq"],
        stream_id=row["stream_id"],
        jti=row["jti"],
        token=row["token"],
        attempts=row["attempts"],
        next_attempt_at=datetime.fromisoformat(retry) if retry else None,
    )


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")
