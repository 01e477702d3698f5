"""What agents actually did, from the audit ledger: the evidence right-sizing stands on.

The ledger has no index on time, but its ``seq`` grows with time, so the first entry of a
window is found by binary search over the primary key (about 25 point reads for 30 million
entries) and only the window itself is read, page by page, decisions only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit.chain import format_timestamp
from warden.audit.models import EventType
from warden.policy.errors import InvalidValue
from warden.policy.values import cedar_entity_type
from warden.store.schema import ledger

USE_EVENTS = (EventType.DECISION_ALLOW.value, EventType.DECISION_STEP_UP.value)
"""Decisions that show an entitlement in use: allowed, or permitted pending a person's
approval (a step-up is only ever asked when some permit matched)."""
_PAGE = 5000

Use = tuple[str, str, str, str]
"""``(agent id, action, Cedar resource type, resource id)`` of one permitted decision."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Permitted decisions between ``since`` and ``until``."""

    since: datetime
    until: datetime
    uses: frozenset[Use]
    decisions: int  # permitted decisions read
    _kinds: frozenset[tuple[str, str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_kinds", frozenset(u[:3] for u in self.uses))

    def used(self, agent_id: str, action: str, resource_type: str, resource_id: str) -> bool:
        """Whether the agent did ``action`` on that resource (any of the type for ``*``)."""
        if resource_id == "*":
            return (agent_id, action, resource_type) in self._kinds
        return (agent_id, action, resource_type, resource_id) in self.uses


class LedgerUsage:
    """Reads permitted decisions from the ledger table (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def usage(self, since: datetime, until: datetime) -> Usage:
        start = await self._first_seq_at_or_after(since)
        end = await self._first_seq_at_or_after(until, strictly_after=True)
        uses: set[Use] = set()
        decisions = 0
        after = (start or 1) - 1
        while start is not None:
            rows = await self._page(after, end)
            for seq, payload in rows:
                after = seq
                use = _use(payload)
                if use is not None:
                    uses.add(use)
                    decisions += 1
            if len(rows) < _PAGE:
                break
        return Usage(since, until, frozenset(uses), decisions)

    async def _first_seq_at_or_after(
        self, when: datetime, *, strictly_after: bool = False
    ) -> int | None:
        """The first seq recorded at (or after) ``when``; None when there is none."""
        stamp = format_timestamp(when)
        async with self._engine.connect() as conn:
            bounds = (
                await conn.execute(select(func.min(ledger.c.seq), func.max(ledger.c.seq)))
            ).one()
            if bounds[0] is None:
                return None
            low, high = int(bounds[0]), int(bounds[1]) + 1  # answer in [low, high]
            while low < high:
                middle = (low + high) // 2
                query = (
                    select(ledger.c.seq, ledger.c.recorded_at)
                    .where(ledger.c.seq >= middle)
                    .order_by(ledger.c.seq)
                    .limit(1)
                )
                seq, recorded = (await conn.execute(query)).one()
                inside = recorded > stamp if strictly_after else recorded >= stamp
                if inside:
                    high = middle
                else:
                    low = int(seq) + 1
        return low if low <= int(bounds[1]) else None

    async def _page(self, after: int, end: int | None) -> list[tuple[int, str]]:
        query = (
            select(ledger.c.seq, ledger.c.payload)
            .where(ledger.c.seq > after, ledger.c.event_type.in_(USE_EVENTS))
            .order_by(ledger.c.seq)
            .limit(_PAGE)
        )
        if end is not None:
            query = query.where(ledger.c.seq < end)
        async with self._engine.connect() as conn:
            return [(int(r.seq), str(r.payload)) for r in await conn.execute(query)]


def _use(payload: str) -> Use | None:
    try:
        decision: Mapping[str, Any] = orjson.loads(payload)
        subject, resource = decision["subject"], decision["resource"]
        if _cedar_type(subject["type"]) != "Agent":
            return None
        return (
            str(subject["id"]),
            str(decision["action"]["name"]),
            _cedar_type(resource["type"]),
            str(resource["id"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # not a decision Warden wrote; it shows no use


@lru_cache(maxsize=256)
def _cedar_type(authzen_type: str) -> str:
    try:
        return cedar_entity_type(str(authzen_type))
    except InvalidValue:
        return ""
