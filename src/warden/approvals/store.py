"""The ``approval_requests`` and ``approval_votes`` tables (SQLAlchemy Core; SQLite and
PostgreSQL).

Every status change is a conditional ``UPDATE … WHERE id = … AND status IN (…)``: it
changes one row or none, so two callers (two tasks, or two replicas) racing for the same
request cannot both win. :meth:`SqlApprovalStore.consume` is how an approval is used once.

Times are stored as ISO 8601 UTC with microseconds, a fixed width, so comparing the
strings compares the times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from warden.approvals.models import ApprovalRequest, ApprovalStatus, Vote, VoteKind
from warden.store.schema import approval_requests as requests
from warden.store.schema import approval_votes as votes

_CHUNK = 500  # ids per IN (...) query, well under SQLite's bound-parameter limit
OPEN = (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
"""Statuses a request may still leave by being used, decided, cancelled or expiring."""


def stamp(when: datetime) -> str:
    """A time as stored: UTC, microseconds, fixed width (so strings sort as times)."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


class SqlApprovalStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, request: ApprovalRequest) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(requests).values(**_row(request)))

    async def add_vote(self, approval_id: str, vote: Vote) -> bool:
        """Record ``vote``; False if this approver already voted on this request."""
        row = {
            "approval_id": approval_id,
            "approver": vote.approver,
            "vote": vote.vote.value,
            "comment": vote.comment,
            "at": stamp(vote.at),
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(votes).values(**row))
        except IntegrityError:
            return False
        return True

    async def transition(
        self,
        approval_id: str,
        to: ApprovalStatus,
        *,
        from_: Iterable[ApprovalStatus],
        at: datetime,
        reason: str = "",
    ) -> bool:
        """Move the request to ``to`` if it is in one of ``from_``; True if it moved."""
        query = (
            update(requests)
            .where(requests.c.id == approval_id, requests.c.status.in_([s.value for s in from_]))
            .values(status=to.value, decided_at=stamp(at), status_reason=reason)
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount == 1)

    async def consume(self, approval_id: str, now: datetime) -> bool:
        """Mark an approved, unexpired request used; True for exactly one caller."""
        query = (
            update(requests)
            .where(
                requests.c.id == approval_id,
                requests.c.status == ApprovalStatus.APPROVED.value,
                requests.c.expires_at > stamp(now),
            )
            .values(status=ApprovalStatus.USED.value, used_at=stamp(now))
        )
        async with self._engine.begin() as conn:
            result = await conn.execute(query)
        return bool(result.rowcount == 1)

    async def get(self, approval_id: str) -> ApprovalRequest | None:
        found = await self._select(requests.c.id == approval_id, limit=1)
        return found[0] if found else None

    async def page(
        self, status: ApprovalStatus | None, agent: str | None, limit: int
    ) -> list[ApprovalRequest]:
        """Requests, the newest first."""
        where: list[ColumnElement[bool]] = []
        if status is not None:
            where.append(requests.c.status == status.value)
        if agent is not None:
            where.append(requests.c.agent == agent)
        return await self._select(*where, limit=limit)

    async def live(self, now: datetime) -> list[ApprovalRequest]:
        """Pending and approved (unused) requests that have not expired."""
        return await self._select(
            requests.c.status.in_([s.value for s in OPEN]),
            requests.c.expires_at > stamp(now),
        )

    async def due(self, now: datetime) -> list[str]:
        """Ids of pending requests whose time is up."""
        query = select(requests.c.id).where(
            requests.c.status == ApprovalStatus.PENDING.value,
            requests.c.expires_at <= stamp(now),
        )
        async with self._engine.connect() as conn:
            return [str(r.id) for r in await conn.execute(query)]

    async def matching(self, filters: Mapping[str, str]) -> list[str]:
        """Ids of open (pending or approved, unused) requests matching ANY of ``filters``
        (column name → value)."""
        if not filters:
            return []
        query = select(requests.c.id).where(
            requests.c.status.in_([s.value for s in OPEN]),
            or_(*(requests.c[name] == value for name, value in filters.items())),
        )
        async with self._engine.connect() as conn:
            return [str(r.id) for r in await conn.execute(query)]

    async def _select(
        self, *where: ColumnElement[bool], limit: int | None = None
    ) -> list[ApprovalRequest]:
        query = select(requests).where(*where).order_by(requests.c.created_at.desc())
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
            by_id = await _votes(conn, [str(r["id"]) for r in rows])
        return [_request(r, by_id.get(str(r["id"]), ())) for r in rows]


async def _votes(conn: Any, ids: Sequence[str]) -> dict[str, tuple[Vote, ...]]:
    found: dict[str, list[Vote]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = select(votes).where(votes.c.approval_id.in_(chunk)).order_by(votes.c.at)
        for row in await conn.execute(query):
            vote = Vote(row.approver, VoteKind(row.vote), row.comment, _when(row.at))
            found.setdefault(str(row.approval_id), []).append(vote)
    return {id: tuple(v) for id, v in found.items()}


def _row(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "action_hash": request.action_hash,
        "decision_id": request.decision_id,
        "agent": request.agent,
        "person": request.person,
        "tool": request.tool,
        "mandate_id": request.mandate_id,
        "chain_id": request.chain_id,
        "session_id": request.session_id,
        "reasons": orjson.dumps([dict(r) for r in request.reasons], default=str).decode(),
        "held": orjson.dumps(dict(request.held), default=str).decode(),
        "required": request.required,
        "separation_of_duties": request.separation_of_duties,
        "status": request.status.value,
        "created_at": stamp(request.created_at),
        "expires_at": stamp(request.expires_at),
        "decided_at": stamp(request.decided_at) if request.decided_at else None,
        "used_at": stamp(request.used_at) if request.used_at else None,
        "status_reason": request.status_reason,
    }


def _request(row: Any, found: tuple[Vote, ...]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row["id"],
        action_hash=row["action_hash"],
        decision_id=row["decision_id"],
        agent=row["agent"],
        person=row["person"],
        tool=row["tool"],
        mandate_id=row["mandate_id"],
        chain_id=row["chain_id"],
        session_id=row["session_id"],
        reasons=tuple(orjson.loads(row["reasons"])),
        held=orjson.loads(row["held"]),
        required=row["required"],
        separation_of_duties=bool(row["separation_of_duties"]),
        status=ApprovalStatus(row["status"]),
        created_at=_when(row["created_at"]),
        expires_at=_when(row["expires_at"]),
        decided_at=_when(row["decided_at"]) if row["decided_at"] else None,
        used_at=_when(row["used_at"]) if row["used_at"] else None,
        status_reason=row["status_reason"] or "",
        votes=found,
    )


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)
