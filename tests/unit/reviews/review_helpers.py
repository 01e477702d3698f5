"""A stand-in for the entitlement service (its contract, in memory), an audit sink on the
runtime's ledger, and a fleet of agents to review."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from warden.audit.models import EventType
from warden.entitlements.models import Entitlement, GrantState
from warden.registry.models import AgentStatus, RiskTier
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(days=14)

ANN = "ann@acme.example"
BOB = "bob@acme.example"
CAT = "cat@acme.example"

AP = "spiffe://acme.example/agent/ap-clerk"
RECON = "spiffe://acme.example/agent/recon"
HR = "spiffe://acme.example/agent/hr-onboarding"
OLD = "spiffe://acme.example/agent/old-batch"


class StandInEntitlements:
    """The entitlement service's contract, kept in memory."""

    def __init__(self) -> None:
        self.grants: dict[str, Entitlement] = {}
        self._ids = itertools.count(1)

    async def grant(
        self,
        agent_id: str,
        action: str,
        resource_type: str,
        resource_id: str,
        *,
        justification: str,
        actor: str,
        now: datetime,
        expires_at: datetime | None = None,
        template: str | None = None,
    ) -> Entitlement:
        grant = Entitlement(
            id=f"g{next(self._ids)}",
            agent_id=agent_id,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            justification=justification,
            granted_by=actor,
            granted_at=now,
            expires_at=expires_at,
            state=GrantState.ACTIVE,
            template=template,
        )
        self.grants[grant.id] = grant
        return grant

    async def list(
        self, *, agent_id: str | None = None, state: GrantState | None = None
    ) -> list[Entitlement]:
        return [
            g
            for g in self.grants.values()
            if (agent_id is None or g.agent_id == agent_id) and (state is None or g.state is state)
        ]

    async def get(self, grant_id: str) -> Entitlement:
        return self.grants[grant_id]

    async def revoke(self, grant_id: str, *, actor: str, reason: str, now: datetime) -> Entitlement:
        grant = replace(
            self.grants[grant_id],
            state=GrantState.REVOKED,
            changed_by=actor,
            changed_at=now,
            change_reason=reason,
        )
        self.grants[grant_id] = grant
        return grant


class LedgerSink:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def record(self, event_type: str, payload: Mapping[str, Any]) -> None:
        await self._runtime.ledger.append(EventType(event_type), payload)


async def register(
    runtime: Runtime,
    agent_id: str,
    *,
    owner: str = ANN,
    co_owners: tuple[str, ...] = (),
    team: str = "finance",
    risk: RiskTier = RiskTier.MEDIUM,
    status: AgentStatus = AgentStatus.ACTIVE,
) -> None:
    spec = AgentSpec(
        id=agent_id,
        display_name=agent_id.rsplit("/", 1)[-1],
        owner=owner,
        co_owners=list(co_owners),
        team=team,
        risk_tier=risk,
        status=status,
    )
    await runtime.registry.register_agent(spec, actor="admin", now=T0)


async def events(runtime: Runtime, prefix: str) -> list[dict[str, Any]]:
    """Payloads of the ledger entries whose type starts with ``prefix``, oldest first."""
    entries = await runtime.ledger_store.tail(1000)
    return [dict(e.payload) for e in entries if str(e.event_type).startswith(prefix)]
