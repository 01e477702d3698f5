"""Campaigns and items on SQLAlchemy Core: the same SQL on SQLite and PostgreSQL.

Timestamps are stored as UTC ISO strings with microseconds, so comparing the strings
compares the instants (deadlines are compared in SQL). Every state change is a conditional
``UPDATE`` (``WHERE state = …``) whose row count says whether it won: two people deciding the
same item, or two servers closing the same campaign, cannot both succeed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from warden.reviews.models import (
    Campaign,
    CampaignState,
    Consequence,
    Effect,
    Grant,
    ItemPage,
    ItemState,
    Progress,
    ReviewItem,
    Scope,
    ScopeKind,
)
from warden.store.schema import review_campaigns, review_items, review_reviewers

SYSTEM_ACTOR = "warden"


class ReviewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- campaigns -----------------------------------------------------------------------------

    async def insert_campaign(self, campaign: Campaign, items: Sequence[ReviewItem]) -> None:
        """The campaign with its snapshot of items, in one transaction."""
        reviewers = [
            {"campaign_id": i.campaign_id, "number": i.number, "reviewer": r}
            for i in items
            for r in i.reviewers
        ]
        async with self._engine.begin() as conn:
            await conn.execute(insert(review_campaigns).values(**_campaign_row(campaign)))
            if items:
                await conn.execute(insert(review_items), [_item_row(i) for i in items])
            if reviewers:
                await conn.execute(insert(review_reviewers), reviewers)

    async def campaign(self, campaign_id: str) -> Campaign | None:
        query = select(review_campaigns).where(review_campaigns.c.id == campaign_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _campaign(row._mapping)

    async def campaigns(self, state: CampaignState | None = None) -> list[Campaign]:
        query = select(review_campaigns).order_by(
            review_campaigns.c.opened_at.desc(), review_campaigns.c.id
        )
        if state is not None:
            query = query.where(review_campaigns.c.state == state.value)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_campaign(r._mapping) for r in rows]

    async def due(self, now: datetime) -> list[Campaign]:
        """Open campaigns past their deadline, and any left closing (e.g. by a crash)."""
        c = review_campaigns.c
        query = select(review_campaigns).where(
            or_(
                and_(c.state == CampaignState.OPEN.value, c.deadline <= _when(now)),
                c.state == CampaignState.CLOSING.value,
            )
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(c.deadline, c.id))).all()
        return [_campaign(r._mapping) for r in rows]

    async def begin_closing(self, campaign_id: str, *, actor: str) -> bool:
        """open → closing (no more decisions); False when it was not open."""
        c = review_campaigns.c
        statement = (
            update(review_campaigns)
            .where(c.id == campaign_id, c.state == CampaignState.OPEN.value)
            .values(state=CampaignState.CLOSING.value, closed_by=actor)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    async def finish_closing(self, campaign_id: str, now: datetime) -> bool:
        c = review_campaigns.c
        statement = (
            update(review_campaigns)
            .where(c.id == campaign_id, c.state == CampaignState.CLOSING.value)
            .values(state=CampaignState.CLOSED.value, closed_at=_when(now))
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    # -- progress ------------------------------------------------------------------------------

    async def progress(self, campaign_ids: Sequence[str]) -> dict[str, Progress]:
        """Items per state for each campaign (reviewers left out: see :meth:`reviewers`)."""
        i = review_items.c
        query = (
            select(i.campaign_id, i.state, func.count())
            .where(i.campaign_id.in_(campaign_ids))
            .group_by(i.campaign_id, i.state)
        )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        async with self._engine.connect() as conn:
            for campaign_id, state, count in await conn.execute(query):
                counts[campaign_id][state] = int(count)
        return {cid: _progress(counts[cid]) for cid in campaign_ids}

    async def reviewers(self, campaign_id: str) -> dict[str, dict[str, int]]:
        """Each reviewer's items in a campaign: how many are still pending, of how many."""
        i, r = review_items.c, review_reviewers.c
        pending = func.sum(case((i.state == ItemState.PENDING.value, 1), else_=0))
        query = (
            select(r.reviewer, pending, func.count())
            .select_from(review_reviewers.join(review_items, _same_item()))
            .where(r.campaign_id == campaign_id)
            .group_by(r.reviewer)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {who: {"pending": int(p or 0), "total": int(n)} for who, p, n in rows}

    # -- items ---------------------------------------------------------------------------------

    async def items(
        self,
        campaign_id: str,
        *,
        reviewer: str | None = None,
        state: ItemState | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> ItemPage:
        where = _item_filter(campaign_id, reviewer, state)
        page = (
            select(review_items)
            .where(where)
            .order_by(review_items.c.number)
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            count = await conn.execute(select(func.count()).select_from(review_items).where(where))
            total = int(count.scalar_one())
            rows = (await conn.execute(page)).all()
            found = await _with_reviewers(conn, campaign_id, rows)
        return ItemPage(found, total, limit, offset)

    async def item(self, campaign_id: str, number: int) -> ReviewItem | None:
        i = review_items.c
        query = select(review_items).where(i.campaign_id == campaign_id, i.number == number)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            found = await _with_reviewers(conn, campaign_id, rows)
        return found[0] if found else None

    async def pending(self, campaign_id: str) -> list[ReviewItem]:
        where = _item_filter(campaign_id, None, ItemState.PENDING)
        query = select(review_items).where(where).order_by(review_items.c.number)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            return await _with_reviewers(conn, campaign_id, rows)

    async def claim(
        self,
        campaign_id: str,
        number: int,
        state: ItemState,
        *,
        by: str,
        comment: str | None,
        now: datetime,
        effect: Effect | None = None,
    ) -> bool:
        """pending → ``state`` while the campaign takes decisions; False otherwise."""
        c = review_campaigns.c
        open_campaign = exists().where(
            c.id == campaign_id,
            c.state == CampaignState.OPEN.value,
            c.deadline > _when(now),
        )
        values = {
            "state": state.value,
            "decided_by": by,
            "decided_at": _when(now),
            "comment": comment,
            "effect": effect.value if effect else None,
        }
        return await self._update_pending(campaign_id, number, open_campaign, values)

    async def expire(self, campaign_id: str, number: int, effect: Effect, now: datetime) -> bool:
        """pending → expired, with the consequence applied (by Warden, at the deadline)."""
        values = {
            "state": ItemState.EXPIRED.value,
            "decided_by": SYSTEM_ACTOR,
            "decided_at": _when(now),
            "effect": effect.value,
        }
        return await self._update_pending(campaign_id, number, None, values)

    async def set_effect(self, campaign_id: str, number: int, effect: Effect) -> None:
        i = review_items.c
        statement = (
            update(review_items)
            .where(i.campaign_id == campaign_id, i.number == number)
            .values(effect=effect.value)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def unclaim(self, campaign_id: str, number: int, state: ItemState) -> None:
        """Undo :meth:`claim` when its effect could not be applied."""
        i = review_items.c
        statement = (
            update(review_items)
            .where(i.campaign_id == campaign_id, i.number == number, i.state == state.value)
            .values(
                state=ItemState.PENDING.value,
                decided_by=None,
                decided_at=None,
                comment=None,
                effect=None,
            )
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def _update_pending(
        self,
        campaign_id: str,
        number: int,
        condition: ColumnElement[bool] | None,
        values: Mapping[str, Any],
    ) -> bool:
        i = review_items.c
        where = [
            i.campaign_id == campaign_id,
            i.number == number,
            i.state == ItemState.PENDING.value,
        ]
        if condition is not None:
            where.append(condition)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(review_items).where(*where).values(**values))
            return result.rowcount == 1


def _same_item() -> ColumnElement[bool]:
    i, r = review_items.c, review_reviewers.c
    return and_(i.campaign_id == r.campaign_id, i.number == r.number)


def _item_filter(
    campaign_id: str, reviewer: str | None, state: ItemState | None
) -> ColumnElement[bool]:
    i, r = review_items.c, review_reviewers.c
    where = [i.campaign_id == campaign_id]
    if state is not None:
        where.append(i.state == state.value)
    if reviewer is not None:
        where.append(exists().where(_same_item(), r.reviewer == reviewer.lower()))
    return and_(*where)


async def _with_reviewers(
    conn: AsyncConnection, campaign_id: str, rows: Sequence[Any]
) -> list[ReviewItem]:
    if not rows:
        return []
    r = review_reviewers.c
    numbers = [row.number for row in rows]
    query = (
        select(r.number, r.reviewer)
        .where(r.campaign_id == campaign_id, r.number.in_(numbers))
        .order_by(r.number, r.reviewer)
    )
    reviewers: dict[int, list[str]] = defaultdict(list)
    for number, reviewer in await conn.execute(query):
        reviewers[number].append(reviewer)
    return [_item(row._mapping, reviewers[row.number]) for row in rows]


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _campaign_row(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "name": campaign.name,
        "scope_kind": campaign.scope.kind.value,
        "scope_value": campaign.scope.value,
        "deadline": _when(campaign.deadline),
        "on_deadline": campaign.on_deadline.value,
        "state": campaign.state.value,
        "opened_by": campaign.opened_by,
        "opened_at": _when(campaign.opened_at),
        "closed_by": campaign.closed_by,
        "closed_at": _when(campaign.closed_at) if campaign.closed_at else None,
    }


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"],
        scope=Scope(ScopeKind(row["scope_kind"]), row["scope_value"]),
        deadline=datetime.fromisoformat(row["deadline"]),
        on_deadline=Consequence(row["on_deadline"]),
        state=CampaignState(row["state"]),
        opened_by=row["opened_by"],
        opened_at=datetime.fromisoformat(row["opened_at"]),
        closed_by=row["closed_by"],
        closed_at=_at(row["closed_at"]),
    )


def _item_row(item: ReviewItem) -> dict[str, Any]:
    grant = item.grant
    return {
        "campaign_id": item.campaign_id,
        "number": item.number,
        "agent_id": item.agent_id,
        "agent_name": item.agent_name,
        "entitlement_id": grant.id if grant else None,
        "action": grant.action if grant else None,
        "resource_type": grant.resource_type if grant else None,
        "resource_id": grant.resource_id if grant else None,
        "justification": grant.justification if grant else None,
        "state": item.state.value,
        "decided_by": item.decided_by,
        "decided_at": _when(item.decided_at) if item.decided_at else None,
        "comment": item.comment,
        "effect": item.effect.value if item.effect else None,
    }


def _item(row: Any, reviewers: Sequence[str]) -> ReviewItem:
    grant = None
    if row["entitlement_id"] is not None:
        grant = Grant(
            id=row["entitlement_id"],
            action=row["action"],
            resource_type=row["resource_type"],
            resource_id=row["resource_id"],
            justification=row["justification"] or "",
        )
    return ReviewItem(
        campaign_id=row["campaign_id"],
        number=row["number"],
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        grant=grant,
        reviewers=tuple(reviewers),
        state=ItemState(row["state"]),
        decided_by=row["decided_by"],
        decided_at=_at(row["decided_at"]),
        comment=row["comment"],
        effect=Effect(row["effect"]) if row["effect"] else None,
    )


def _progress(counts: Mapping[str, int]) -> Progress:
    return Progress(
        total=sum(counts.values()),
        certified=counts.get(ItemState.CERTIFIED.value, 0),
        revoked=counts.get(ItemState.REVOKED.value, 0),
        pending=counts.get(ItemState.PENDING.value, 0),
        expired=counts.get(ItemState.EXPIRED.value, 0),
    )
