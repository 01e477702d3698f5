"""Access reviews: open a campaign, decide its items, enforce its deadline. Every change is
audited (``review:campaign:opened``, ``review:item:decided``, ``review:campaign:closed``).

A ``revoke`` decision takes effect at once: the entitlement is revoked through the
entitlement service (its reason names the campaign), or — for an item reviewing an agent
with no entitlement — the agent is suspended with status reason ``review``. At the deadline
(:meth:`ReviewService.enforce_deadlines`, a housekeeping job) or when an admin closes the
campaign, every item still pending gets the campaign's consequence, applied by ``warden``.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from warden.access.models import Principal
from warden.entitlements.models import Entitlement, GrantState
from warden.registry.models import Agent, AgentStatus, RiskTier, StatusReason
from warden.registry.query import MAX_PAGE, AgentPage, AgentQuery
from warden.reviews.errors import (
    AlreadyDecided,
    CampaignClosed,
    CampaignNotFound,
    InvalidReviewInput,
    NotReviewer,
    ReviewItemNotFound,
)
from warden.reviews.models import (
    Campaign,
    CampaignReport,
    CampaignState,
    Consequence,
    Effect,
    Grant,
    ItemPage,
    ItemState,
    ReviewItem,
    Scope,
    ScopeKind,
    Verdict,
)
from warden.reviews.specs import CampaignSpec
from warden.reviews.store import SYSTEM_ACTOR, ReviewStore

log = logging.getLogger("warden.reviews")

MAX_ITEMS_PAGE = 1000


class AuditSink(Protocol):
    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None: ...


class Registry(Protocol):
    """What reviews need of the registry (:class:`warden.registry.service.RegistryService`)."""

    async def agent(self, agent_id: str) -> Agent: ...
    async def search(self, query: AgentQuery) -> AgentPage: ...
    async def transition(
        self, agent_id: str, to: AgentStatus, *, actor: str, reason: str, now: datetime
    ) -> Agent: ...


class Entitlements(Protocol):
    """What reviews need of the entitlement service (``runtime.entitlements``)."""

    async def list(
        self, *, agent_id: str | None = None, state: GrantState | None = None
    ) -> list[Entitlement]: ...
    async def get(self, grant_id: str) -> Entitlement: ...
    async def revoke(
        self, grant_id: str, *, actor: str, reason: str, now: datetime
    ) -> Entitlement: ...
    def batched(self) -> AbstractAsyncContextManager[None]: ...


class ReviewService:
    def __init__(
        self,
        store: ReviewStore,
        registry: Registry,
        entitlements: Entitlements,
        audit: AuditSink,
    ) -> None:
        self._store = store
        self._registry = registry
        self._entitlements = entitlements
        self._audit = audit

    # -- opening -------------------------------------------------------------------------------

    async def open(self, spec: CampaignSpec, *, actor: str, now: datetime) -> CampaignReport:
        """Open a campaign: snapshot one item per (agent, entitlement in force) in scope, and
        one per in-scope agent with none; each item's reviewers are the agent's owners."""
        if spec.deadline <= now:
            raise InvalidReviewInput("the deadline must be in the future", field="deadline")
        scope = spec.scope.to_scope()
        agents = await self._in_scope(scope)
        if not agents:
            raise InvalidReviewInput(f"no agent is in scope ({scope.describe()})", field="scope")
        campaign = Campaign(
            id=f"rev-{secrets.token_hex(5)}",
            name=spec.name,
            scope=scope,
            deadline=spec.deadline,
            on_deadline=spec.on_deadline,
            state=CampaignState.OPEN,
            opened_by=actor,
            opened_at=now,
        )
        items = _snapshot(campaign.id, agents, await self._grants_in_force(agents, now))
        await self._store.insert_campaign(campaign, items)
        await self._audit.record(
            "review:campaign:opened",
            {"actor": actor, "campaign": campaign.to_dict(), "items": len(items)},
        )
        return await self.report(campaign.id)

    async def _in_scope(self, scope: Scope) -> list[Agent]:
        """Every agent the scope names, retired ones left out (they can never act again)."""
        query = AgentQuery(
            team=scope.value if scope.kind is ScopeKind.TEAM else None,
            owner=scope.value if scope.kind is ScopeKind.OWNER else None,
            risk_tier=RiskTier(scope.value or "") if scope.kind is ScopeKind.RISK_TIER else None,
            limit=MAX_PAGE,
        )
        found: list[Agent] = []
        while True:
            page = await self._registry.search(query)
            found.extend(a for a in page.agents if a.status is not AgentStatus.RETIRED)
            if not page.agents or query.offset + len(page.agents) >= page.total:
                return found
            query = replace(query, offset=query.offset + len(page.agents))

    async def _grants_in_force(
        self, agents: list[Agent], now: datetime
    ) -> dict[str, list[Entitlement]]:
        wanted = {a.id for a in agents}
        grants: dict[str, list[Entitlement]] = defaultdict(list)
        for grant in await self._entitlements.list(state=GrantState.ACTIVE):
            if grant.agent_id in wanted and grant.in_force(now):
                grants[grant.agent_id].append(grant)
        return grants

    # -- deciding ------------------------------------------------------------------------------

    async def decide(
        self,
        campaign_id: str,
        number: int,
        verdict: Verdict,
        *,
        by: Principal,
        comment: str | None = None,
        now: datetime,
    ) -> ReviewItem:
        """Certify or revoke an item. Only one of its reviewers (an owner of the agent when the
        campaign opened) or an admin may; once, while the campaign is open."""
        campaign = await self.campaign(campaign_id)
        item = await self.item(campaign_id, number)
        if not by.may_manage(item.reviewers):
            raise NotReviewer(
                f"`{by.name}` is not a reviewer of item {number} of campaign `{campaign_id}`"
            )
        _check_decidable(campaign, item, now)
        certify = verdict is Verdict.CERTIFY
        state = ItemState.CERTIFIED if certify else ItemState.REVOKED
        # Claimed before anything is revoked: of two people deciding at once, one wins.
        if not await self._store.claim(
            campaign_id,
            number,
            state,
            by=by.name,
            comment=comment,
            now=now,
            effect=Effect.NONE if certify else None,
        ):
            latest = await self.campaign(campaign_id), await self.item(campaign_id, number)
            _check_decidable(*latest, now)
            raise AlreadyDecided(f"item {number} of campaign `{campaign_id}` was just decided")
        effect = Effect.NONE
        if not certify:
            why = f"revoked by `{by.name}` in access review `{campaign_id}`"
            try:
                effect = await self._revoke(item, by.name, why, now)
            except BaseException:
                await self._store.unclaim(campaign_id, number, state)
                raise
            await self._store.set_effect(campaign_id, number, effect)
        await self._audit.record(
            "review:item:decided", _decided(item, by.name, state, effect, comment)
        )
        return replace(
            item, state=state, decided_by=by.name, decided_at=now, comment=comment, effect=effect
        )

    async def _revoke(self, item: ReviewItem, actor: str, why: str, now: datetime) -> Effect:
        """A reviewer's ``revoke``: the entitlement is revoked; an agent reviewed for itself
        (no entitlement) is suspended."""
        if item.grant is not None:
            return await self._revoke_grant(item.grant.id, actor, why, now)
        return await self._suspend(item.agent_id, actor, now)

    async def _enforce(
        self, item: ReviewItem, consequence: Consequence, why: str, now: datetime
    ) -> Effect:
        """The deadline's consequence for an undecided item. Under ``revoke`` an agent item
        has nothing to revoke; under ``suspend`` every item's agent is suspended."""
        if consequence is Consequence.SUSPEND:
            return await self._suspend(item.agent_id, SYSTEM_ACTOR, now)
        if item.grant is None:
            return Effect.NONE
        return await self._revoke_grant(item.grant.id, SYSTEM_ACTOR, why, now)

    async def _revoke_grant(self, grant_id: str, actor: str, why: str, now: datetime) -> Effect:
        grant = await self._entitlements.get(grant_id)
        if grant.state is not GrantState.ACTIVE:
            return Effect.NONE  # revoked or pruned meanwhile
        await self._entitlements.revoke(grant_id, actor=actor, reason=why, now=now)
        return Effect.ENTITLEMENT_REVOKED

    async def _suspend(self, agent_id: str, actor: str, now: datetime) -> Effect:
        agent = await self._registry.agent(agent_id)
        if agent.status is not AgentStatus.ACTIVE:
            return Effect.NONE  # suspended or retired already; a provisioned one cannot act
        await self._registry.transition(
            agent_id, AgentStatus.SUSPENDED, actor=actor, reason=StatusReason.REVIEW, now=now
        )
        return Effect.AGENT_SUSPENDED

    # -- closing -------------------------------------------------------------------------------

    async def close(self, campaign_id: str, *, actor: str, now: datetime) -> CampaignReport:
        """Close a campaign now: every pending item gets the campaign's consequence."""
        campaign = await self.campaign(campaign_id)
        if campaign.state is CampaignState.CLOSED:
            raise CampaignClosed(f"campaign `{campaign_id}` is already closed")
        if await self._store.begin_closing(campaign_id, actor=actor):
            campaign = await self.campaign(campaign_id)
        await self._finish(campaign, now)
        return await self.report(campaign_id)

    async def enforce_deadlines(self, now: datetime) -> list[Campaign]:
        """Close every open campaign past its deadline (a housekeeping job); returns them."""
        closed = []
        for campaign in await self._store.due(now):
            if campaign.state is CampaignState.OPEN and not await self._store.begin_closing(
                campaign.id, actor=SYSTEM_ACTOR
            ):
                continue  # another server is closing it
            try:
                if await self._finish(campaign, now):
                    closed.append(await self.campaign(campaign.id))
            except Exception:
                log.exception("could not close access review %s", campaign.id)
        return closed

    async def _finish(self, campaign: Campaign, now: datetime) -> bool:
        """Apply the consequence to every pending item, then mark the campaign closed. An item
        that fails stays pending (logged) and the campaign stays closing: the next
        housekeeping pass tries again."""
        why = f"not recertified in access review `{campaign.id}` by its deadline"
        if now < campaign.deadline:
            why = f"not recertified before access review `{campaign.id}` was closed"
        failed = 0
        # One refresh of the decision view for the whole campaign, not one per revocation.
        async with self._entitlements.batched():
            for item in await self._store.pending(campaign.id):
                try:
                    effect = await self._enforce(item, campaign.on_deadline, why, now)
                except Exception:
                    log.exception(
                        "access review %s: item %d not enforced", campaign.id, item.number
                    )
                    failed += 1
                    continue
                if await self._store.expire(campaign.id, item.number, effect, now):
                    await self._audit.record(
                        "review:item:decided",
                        _decided(item, SYSTEM_ACTOR, ItemState.EXPIRED, effect, None),
                    )
        if failed or not await self._store.finish_closing(campaign.id, now):
            return False
        progress = (await self._store.progress([campaign.id]))[campaign.id]
        await self._audit.record(
            "review:campaign:closed",
            {
                "actor": campaign.closed_by or SYSTEM_ACTOR,
                "campaign_id": campaign.id,
                "reason": "deadline" if now >= campaign.deadline else "closed",
                "progress": {k: v for k, v in progress.to_dict().items() if k != "reviewers"},
            },
        )
        return True

    # -- reading -------------------------------------------------------------------------------

    async def campaign(self, campaign_id: str) -> Campaign:
        campaign = await self._store.campaign(campaign_id)
        if campaign is None:
            raise CampaignNotFound(f"no access review `{campaign_id}`")
        return campaign

    async def report(self, campaign_id: str) -> CampaignReport:
        """A campaign, its counts, and each reviewer's pending items."""
        campaign = await self.campaign(campaign_id)
        progress = (await self._store.progress([campaign_id]))[campaign_id]
        reviewers = await self._store.reviewers(campaign_id)
        return CampaignReport(campaign, replace(progress, reviewers=reviewers))

    async def campaigns(self, state: CampaignState | None = None) -> list[CampaignReport]:
        """Every campaign (newest first) with its counts."""
        campaigns = await self._store.campaigns(state)
        progress = await self._store.progress([c.id for c in campaigns])
        return [CampaignReport(c, progress[c.id]) for c in campaigns]

    async def items(
        self,
        campaign_id: str,
        *,
        reviewer: str | None = None,
        state: ItemState | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> ItemPage:
        await self.campaign(campaign_id)
        if not 1 <= limit <= MAX_ITEMS_PAGE:
            raise InvalidReviewInput(f"limit must be 1 to {MAX_ITEMS_PAGE}", field="limit")
        return await self._store.items(
            campaign_id, reviewer=reviewer, state=state, limit=limit, offset=max(offset, 0)
        )

    async def item(self, campaign_id: str, number: int) -> ReviewItem:
        item = await self._store.item(campaign_id, number)
        if item is None:
            await self.campaign(campaign_id)
            raise ReviewItemNotFound(f"campaign `{campaign_id}` has no item {number}")
        return item


def _check_decidable(campaign: Campaign, item: ReviewItem, now: datetime) -> None:
    if campaign.state is not CampaignState.OPEN:
        raise CampaignClosed(f"campaign `{campaign.id}` is {campaign.state.value}")
    if now >= campaign.deadline:
        raise CampaignClosed(
            f"campaign `{campaign.id}` passed its deadline ({campaign.deadline.isoformat()})"
        )
    if item.state is not ItemState.PENDING:
        raise AlreadyDecided(
            f"item {item.number} of campaign `{campaign.id}` is already {item.state.value} "
            f"(by `{item.decided_by}`)"
        )


def _snapshot(
    campaign_id: str, agents: list[Agent], grants: Mapping[str, list[Entitlement]]
) -> list[ReviewItem]:
    items: list[ReviewItem] = []
    for agent in sorted(agents, key=lambda a: a.id):
        held = sorted(
            grants.get(agent.id, []), key=lambda g: (g.action, g.resource_type, g.resource_id)
        )
        # No entitlement: one item to recertify the agent itself.
        reviewed: list[Grant | None] = [_grant(g) for g in held] or [None]
        for grant in reviewed:
            items.append(
                ReviewItem(
                    campaign_id=campaign_id,
                    number=len(items) + 1,
                    agent_id=agent.id,
                    agent_name=agent.display_name,
                    grant=grant,
                    reviewers=agent.owners,
                )
            )
    return items


def _grant(grant: Entitlement) -> Grant:
    return Grant(
        id=grant.id,
        action=grant.action,
        resource_type=grant.resource_type,
        resource_id=grant.resource_id,
        justification=grant.justification,
    )


def _decided(
    item: ReviewItem, actor: str, state: ItemState, effect: Effect, comment: str | None
) -> dict[str, Any]:
    return {
        "actor": actor,
        "campaign_id": item.campaign_id,
        "item": item.number,
        "agent_id": item.agent_id,
        "entitlement_id": item.grant.id if item.grant else None,
        "outcome": state.value,
        "effect": effect.value,
        "comment": comment,
    }
