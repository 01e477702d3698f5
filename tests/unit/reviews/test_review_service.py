"""The review service of a real runtime — real registry, real entitlement service — on both
stores (SQLite and PostgreSQL), with a controlled clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from review_helpers import (
    ANN,
    AP,
    BOB,
    CAT,
    DEADLINE,
    HR,
    OLD,
    RECON,
    T0,
    events,
    register,
)

from warden.access.models import ADMIN, Principal, Role
from warden.entitlements.models import GrantState
from warden.entitlements.service import EntitlementService
from warden.registry.models import AgentStatus, RiskTier
from warden.reviews.errors import (
    AlreadyDecided,
    CampaignClosed,
    InvalidReviewInput,
    NotReviewer,
)
from warden.reviews.models import CampaignState, Consequence, Effect, ItemState, Verdict
from warden.reviews.service import ReviewService
from warden.reviews.specs import CampaignSpec, ScopeSpec
from warden.runtime import Runtime

OWNER_ANN = Principal(ANN, frozenset({Role.OWNER}))
OWNER_BOB = Principal(BOB, frozenset({Role.OWNER}))
AUDITOR = Principal(CAT, frozenset({Role.AUDITOR}))


@dataclass
class World:
    runtime: Runtime
    grants: EntitlementService
    reviews: ReviewService

    async def state(self, grant_id: str) -> GrantState:
        return (await self.grants.get(grant_id)).state


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    runtime = await Runtime.open(database_url)
    try:
        yield World(runtime, runtime.entitlements, runtime.reviews)
    finally:
        await runtime.close()


async def _fleet(world: World) -> dict[str, str]:
    """AP (ann, co-owner bob) holds two grants in force and one expired; RECON (ann) holds
    none; HR (bob) is in another team; OLD (ann) is retired. Returns grant ids by tool."""
    await register(world.runtime, AP, co_owners=(BOB,), risk=RiskTier.HIGH)
    await register(world.runtime, RECON)
    await register(world.runtime, HR, owner=BOB, team="people")
    await register(world.runtime, OLD)
    before = T0 - timedelta(days=1)
    held = (
        (AP, "ledger.read", None),
        (AP, "payments.transfer", None),
        (AP, "old", T0 - timedelta(hours=1)),  # expired before the campaign opens
        (HR, "hr.read", None),
        (OLD, "batch", None),
    )
    ids = {}
    for agent_id, tool, expires in held:
        grant = await world.grants.grant(
            agent_id, "invoke", "Tool", tool, justification="month end", actor="admin",
            now=before, expires_at=expires,
        )  # fmt: skip
        ids[tool] = grant.id
    await world.runtime.registry.transition(
        OLD, AgentStatus.RETIRED, actor="admin", reason="replaced", now=before
    )
    return ids


def _spec(on_deadline: Consequence = Consequence.REVOKE, **scope: str) -> CampaignSpec:
    return CampaignSpec(
        name="Q4 finance",
        scope=ScopeSpec.model_validate(scope or {"kind": "all"}),
        deadline=DEADLINE,
        on_deadline=on_deadline,
    )


async def test_opening_snapshots_an_item_per_grant_in_force_and_per_bare_agent(
    world: World,
) -> None:
    ids = await _fleet(world)
    report = await world.reviews.open(
        _spec(kind="team", value="finance"), actor="admin", now=T0 + timedelta(minutes=1)
    )
    page = await world.reviews.items(report.campaign.id)
    seen = [(i.agent_id, i.grant.resource_id if i.grant else None) for i in page.items]
    # Expired grants, other teams and retired agents are not reviewed.
    assert seen == [(AP, "ledger.read"), (AP, "payments.transfer"), (RECON, None)]
    assert [i.number for i in page.items] == [1, 2, 3]
    assert page.items[0].reviewers == (ANN, BOB)
    assert page.items[0].grant is not None and page.items[0].grant.id == ids["ledger.read"]
    assert report.progress.total == 3 and report.progress.pending == 3
    assert report.progress.reviewers == {
        ANN: {"pending": 3, "total": 3},
        BOB: {"pending": 2, "total": 2},
    }
    [opened] = await events(world.runtime, "review:campaign:opened")
    assert opened["actor"] == "admin" and opened["items"] == 3
    assert opened["campaign"]["id"] == report.campaign.id


@pytest.mark.parametrize(
    ("scope", "agents"),
    [
        ({"kind": "all"}, {AP, RECON, HR}),
        ({"kind": "owner", "value": "Bob@Acme.example"}, {AP, HR}),
        ({"kind": "risk_tier", "value": "high"}, {AP}),
        ({"kind": "team", "value": "people"}, {HR}),
    ],
)
async def test_scope_picks_the_agents(
    world: World, scope: dict[str, str], agents: set[str]
) -> None:
    await _fleet(world)
    report = await world.reviews.open(_spec(**scope), actor="admin", now=T0)
    page = await world.reviews.items(report.campaign.id)
    assert {i.agent_id for i in page.items} == agents


async def test_opening_refuses_a_past_deadline_and_an_empty_scope(world: World) -> None:
    await _fleet(world)
    with pytest.raises(InvalidReviewInput, match="deadline") as late:
        await world.reviews.open(_spec(), actor="admin", now=DEADLINE)
    assert late.value.field == "deadline"
    with pytest.raises(InvalidReviewInput, match="team `legal`") as empty:
        await world.reviews.open(_spec(kind="team", value="legal"), actor="admin", now=T0)
    assert empty.value.field == "scope"
    assert await world.reviews.campaigns() == []


async def test_certify_revoke_then_the_deadline_revokes_what_was_left(world: World) -> None:
    ids = await _fleet(world)
    campaign = (
        await world.reviews.open(_spec(kind="team", value="finance"), actor="admin", now=T0)
    ).campaign
    day = T0 + timedelta(days=1)

    certified = await world.reviews.decide(
        campaign.id, 1, Verdict.CERTIFY, by=OWNER_ANN, comment="still reconciling", now=day
    )
    assert certified.state is ItemState.CERTIFIED and certified.decided_by == ANN
    assert certified.effect is Effect.NONE
    revoked = await world.reviews.decide(campaign.id, 2, Verdict.REVOKE, by=OWNER_BOB, now=day)
    assert revoked.state is ItemState.REVOKED and revoked.effect is Effect.ENTITLEMENT_REVOKED
    transfer = await world.grants.get(ids["payments.transfer"])
    assert transfer.state is GrantState.REVOKED and transfer.changed_by == BOB
    assert campaign.id in (transfer.change_reason or "")
    with pytest.raises(AlreadyDecided, match="already revoked"):
        await world.reviews.decide(campaign.id, 2, Verdict.CERTIFY, by=OWNER_ANN, now=day)
    assert await world.state(ids["ledger.read"]) is GrantState.ACTIVE

    assert await world.reviews.enforce_deadlines(DEADLINE - timedelta(seconds=1)) == []
    [closed] = await world.reviews.enforce_deadlines(DEADLINE)
    assert closed.state is CampaignState.CLOSED and closed.closed_by == "warden"
    # RECON had nothing to revoke: its item expires with no effect; AP's certified grant stays.
    recon = await world.reviews.item(campaign.id, 3)
    assert recon.state is ItemState.EXPIRED and recon.effect is Effect.NONE
    assert (await world.runtime.registry.agent(RECON)).status is AgentStatus.ACTIVE
    assert await world.state(ids["ledger.read"]) is GrantState.ACTIVE
    report = await world.reviews.report(campaign.id)
    assert (report.progress.certified, report.progress.revoked, report.progress.expired) == (
        1,
        1,
        1,
    )
    with pytest.raises(CampaignClosed):
        await world.reviews.decide(campaign.id, 3, Verdict.CERTIFY, by=ADMIN, now=DEADLINE)
    decided = await events(world.runtime, "review:item:decided")
    assert [(e["actor"], e["item"], e["outcome"]) for e in decided] == [
        (ANN, 1, "certified"),
        (BOB, 2, "revoked"),
        ("warden", 3, "expired"),
    ]
    [closing] = await events(world.runtime, "review:campaign:closed")
    assert closing["actor"] == "warden" and closing["reason"] == "deadline"
    assert closing["progress"]["expired"] == 1
    assert await world.reviews.enforce_deadlines(DEADLINE + timedelta(days=1)) == []


async def test_the_deadline_revokes_undecided_grants(world: World) -> None:
    ids = await _fleet(world)
    campaign = (
        await world.reviews.open(_spec(kind="owner", value=BOB), actor="admin", now=T0)
    ).campaign
    await world.reviews.enforce_deadlines(DEADLINE + timedelta(hours=1))
    for name in ("ledger.read", "payments.transfer", "hr.read"):
        grant = await world.grants.get(ids[name])
        assert grant.state is GrantState.REVOKED and grant.changed_by == "warden"
        assert campaign.id in (grant.change_reason or "")
    items = (await world.reviews.items(campaign.id)).items
    assert {i.effect for i in items} == {Effect.ENTITLEMENT_REVOKED}


async def test_suspend_policy_suspends_agents_with_anything_left_unreviewed(world: World) -> None:
    await _fleet(world)
    spec = _spec(Consequence.SUSPEND)
    campaign = (await world.reviews.open(spec, actor="admin", now=T0)).campaign
    by_agent = {i.agent_id: i.number for i in (await world.reviews.items(campaign.id)).items}
    await world.reviews.decide(campaign.id, by_agent[HR], Verdict.CERTIFY, by=OWNER_BOB, now=T0)
    await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=OWNER_ANN, now=T0)  # AP's first
    await world.reviews.enforce_deadlines(DEADLINE)
    for agent_id in (AP, RECON):  # AP's second grant and RECON itself were not recertified
        agent = await world.runtime.registry.agent(agent_id)
        assert agent.status is AgentStatus.SUSPENDED and agent.status_reason == "review"
    assert (await world.runtime.registry.agent(HR)).status is AgentStatus.ACTIVE
    # The next decision already sees it.
    assert not world.runtime.agent_is_active(AP)
    effects = [
        i.effect for i in (await world.reviews.items(campaign.id, state=ItemState.EXPIRED)).items
    ]
    assert sorted(e.value for e in effects if e) == ["agent_suspended", "agent_suspended"]


async def test_revoking_an_agent_item_suspends_the_agent(world: World) -> None:
    await _fleet(world)
    campaign = (
        await world.reviews.open(_spec(kind="team", value="finance"), actor="admin", now=T0)
    ).campaign
    item = await world.reviews.decide(
        campaign.id, 3, Verdict.REVOKE, by=OWNER_ANN, comment="not needed since Q3", now=T0
    )
    assert item.effect is Effect.AGENT_SUSPENDED and item.comment == "not needed since Q3"
    assert (await world.runtime.registry.agent(RECON)).status is AgentStatus.SUSPENDED


async def test_only_the_items_reviewers_or_an_admin_decide(world: World) -> None:
    await _fleet(world)
    campaign = (await world.reviews.open(_spec(), actor="admin", now=T0)).campaign
    by_agent = {i.agent_id: i.number for i in (await world.reviews.items(campaign.id)).items}
    with pytest.raises(NotReviewer, match=f"`{ANN}` is not a reviewer"):
        await world.reviews.decide(campaign.id, by_agent[HR], Verdict.REVOKE, by=OWNER_ANN, now=T0)
    with pytest.raises(NotReviewer):
        await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=AUDITOR, now=T0)
    # An owner who is not holding the owner role is not a reviewer either.
    approver = Principal(ANN, frozenset({Role.APPROVER}))
    with pytest.raises(NotReviewer):
        await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=approver, now=T0)
    assert (await world.reviews.report(campaign.id)).progress.pending == 4
    item = await world.reviews.decide(campaign.id, by_agent[HR], Verdict.CERTIFY, by=ADMIN, now=T0)
    assert item.decided_by == "admin"


async def test_no_decision_once_the_deadline_passed_even_before_housekeeping(world: World) -> None:
    await _fleet(world)
    campaign = (await world.reviews.open(_spec(), actor="admin", now=T0)).campaign
    with pytest.raises(CampaignClosed, match="deadline"):
        await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=OWNER_ANN, now=DEADLINE)
    assert (await world.reviews.item(campaign.id, 1)).state is ItemState.PENDING


async def test_an_admin_closes_a_campaign_early(world: World) -> None:
    ids = await _fleet(world)
    campaign = (
        await world.reviews.open(_spec(kind="risk_tier", value="high"), actor="admin", now=T0)
    ).campaign
    await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=OWNER_ANN, now=T0)
    report = await world.reviews.close(
        campaign.id, actor="root@acme.example", now=T0 + timedelta(days=2)
    )
    assert report.campaign.state is CampaignState.CLOSED
    assert report.campaign.closed_by == "root@acme.example"
    assert (report.progress.certified, report.progress.expired, report.progress.pending) == (
        1,
        1,
        0,
    )
    assert await world.state(ids["payments.transfer"]) is GrantState.REVOKED
    assert await world.state(ids["ledger.read"]) is GrantState.ACTIVE
    [closed] = await events(world.runtime, "review:campaign:closed")
    assert closed["actor"] == "root@acme.example" and closed["reason"] == "closed"
    with pytest.raises(CampaignClosed, match="already closed"):
        await world.reviews.close(campaign.id, actor="admin", now=T0 + timedelta(days=3))
    # The housekeeping job leaves a closed campaign alone.
    assert await world.reviews.enforce_deadlines(DEADLINE) == []


async def test_items_filter_by_reviewer_and_state(world: World) -> None:
    await _fleet(world)
    campaign = (await world.reviews.open(_spec(), actor="admin", now=T0)).campaign
    await world.reviews.decide(campaign.id, 1, Verdict.CERTIFY, by=OWNER_BOB, now=T0)
    bobs = await world.reviews.items(campaign.id, reviewer="BOB@acme.example")
    assert [i.agent_id for i in bobs.items] == [AP, AP, HR]
    pending = await world.reviews.items(campaign.id, reviewer=BOB, state=ItemState.PENDING)
    assert [i.number for i in pending.items] == [2, 3] and pending.total == 2
    first = await world.reviews.items(campaign.id, limit=2)
    assert first.to_dict()["next_offset"] == 2 and first.total == 4
    report = await world.reviews.report(campaign.id)
    assert report.progress.reviewers[BOB] == {"pending": 2, "total": 3}


async def test_two_reviewers_deciding_at_once_cannot_both_win(world: World) -> None:
    ids = await _fleet(world)
    campaign = (await world.reviews.open(_spec(), actor="admin", now=T0)).campaign
    outcomes = await asyncio.gather(
        world.reviews.decide(campaign.id, 2, Verdict.CERTIFY, by=OWNER_ANN, now=T0),
        world.reviews.decide(campaign.id, 2, Verdict.REVOKE, by=OWNER_BOB, now=T0),
        return_exceptions=True,
    )
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], AlreadyDecided)
    item = await world.reviews.item(campaign.id, 2)
    expected = GrantState.ACTIVE if item.state is ItemState.CERTIFIED else GrantState.REVOKED
    assert await world.state(ids["payments.transfer"]) is expected
    assert len(await events(world.runtime, "review:item:decided")) == 1
