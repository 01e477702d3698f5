"""People, agents and a clock for the review tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
