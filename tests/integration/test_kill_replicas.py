"""Kills are stored before they are enforced: they survive a restart, and another Warden
replica on the same store enforces them after its next sync (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from warden.decisions.models import Action, DecisionRequest, Entity, Outcome
from warden.kill.models import KillKind
from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.specs import AgentSpec
from warden.runtime import Runtime

AGENT = "spiffe://acme.example/agent/clerk"
PERMIT_ALL = Bundle(
    {"all.cedar": '@id("all") permit (principal, action, resource);\n'}, default_schema()
)
READ = DecisionRequest(
    Entity("agent", AGENT), Action("invoke"), Entity("tool", "erp.invoice.read"), {}
)


async def test_a_kill_survives_a_restart_and_reaches_another_replica(database_url: str) -> None:
    first = await Runtime.open(database_url)
    second: Runtime | None = None
    try:
        await first.apply_policies(PERMIT_ALL, author="test")
        spec = {"id": AGENT, "display_name": "clerk", "owner": "ann@acme.example", "team": "ap"}
        await first.registry.register_agent(
            AgentSpec.model_validate(spec), actor="test", now=datetime.now(UTC)
        )
        second = await Runtime.open(database_url)
        assert (await second.decide(READ)).outcome is Outcome.ALLOW

        now = datetime.now(UTC)
        await first.kills.kill(KillKind.AGENT, AGENT, reason="INC-1", actor="ir", now=now)
        assert (await first.decide(READ)).outcome is Outcome.DENY  # at once where it was made
        await second.kills.sync(datetime.now(UTC))  # housekeeping on the other replica
        denied = await second.decide(READ)
        assert denied.outcome is Outcome.DENY and denied.reasons[0].code == "kill.agent"

        await first.close()
        first = await Runtime.open(database_url)  # restarted: the kill is still there
        assert (await first.decide(READ)).reasons[0].code == "kill.agent"
        await first.kills.revive(
            KillKind.AGENT, AGENT, reason="cleared", actor="ir", now=datetime.now(UTC)
        )
        await second.kills.sync(datetime.now(UTC))
        assert (await second.decide(READ)).outcome is Outcome.ALLOW
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_on_postgresql_another_replica_hears_a_kill_as_it_commits(
    postgres_url: str,
) -> None:
    first = await Runtime.open(postgres_url)
    second: Runtime | None = None
    try:
        await first.apply_policies(PERMIT_ALL, author="test")
        spec = {"id": AGENT, "display_name": "clerk", "owner": "ann@acme.example", "team": "ap"}
        await first.registry.register_agent(
            AgentSpec.model_validate(spec), actor="test", now=datetime.now(UTC)
        )
        second = await Runtime.open(postgres_url)
        assert (await second.decide(READ)).outcome is Outcome.ALLOW

        now = datetime.now(UTC)
        await first.kills.kill(KillKind.AGENT, AGENT, reason="INC-2", actor="ir", now=now)
        # No sync: the notification alone brings it (bounded wait for the event, not a sleep).
        assert await second.kills.until(KillKind.AGENT, AGENT, killed=True, timeout=10)
        assert (await second.decide(READ)).reasons[0].code == "kill.agent"

        await first.kills.revive(
            KillKind.AGENT, AGENT, reason="cleared", actor="ir", now=datetime.now(UTC)
        )
        assert await second.kills.until(KillKind.AGENT, AGENT, killed=False, timeout=10)
        assert (await second.decide(READ)).outcome is Outcome.ALLOW
    finally:
        await first.close()
        if second is not None:
            await second.close()
