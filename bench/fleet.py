"""A synthetic fleet and policy bundle for the benchmarks (shared by bench scripts).

Policies look like real ones: most are pinned to one tool and scoped to one team; every tenth
is a step-up forbid over tool risk that applies to every tool.
"""

from __future__ import annotations

from datetime import UTC, datetime

from warden.policy.bundle import default_schema
from warden.policy.models import Bundle
from warden.registry.models import Agent, RiskTier, Tool, ToolAnnotations
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TEAMS = 50
TOOLS = 200
TIERS = [RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH, RiskTier.CRITICAL]


def agent_id(i: int) -> str:
    return f"spiffe://acme.example/agent/a{i}"


def policies(n: int) -> Bundle:
    lines = []
    for i in range(n):
        if i % 10 == 0:
            lines.append(
                f'@id("p{i}") @outcome("step_up") @reason("risky tool for tier")\n'
                f'forbid(principal, action == Action::"invoke", resource) when {{ '
                f"context.risk.destructive && context.risk.external && "
                f'principal.risk_tier == "{TIERS[i % 4].value}" && '
                f'context.risk.labels.contains("label{i % 20}") }};'
            )
        else:
            lines.append(
                f'@id("p{i}") @reason("team tool")\n'
                f'permit(principal in Team::"team{i % TEAMS}", action == Action::"invoke", '
                f'resource == Tool::"tool{i % TOOLS}")\n'
                f'when {{ context.identity.status == "active" }};'
            )
    return Bundle({"bench.cedar": "\n".join(lines)}, default_schema(), (), "bench")


def agent_specs(n: int) -> list[AgentSpec]:
    return [
        AgentSpec(
            id=agent_id(i),
            display_name=f"agent {i}",
            owner=f"owner{i % 300}@acme.example",
            team=f"team{i % TEAMS}",
            risk_tier=TIERS[i % 4],
        )
        for i in range(n)
    ]


def tool_specs() -> list[ToolSpec]:
    return [
        ToolSpec(
            name=f"tool{i}",
            description=f"tool number {i}",
            annotations=AnnotationsSpec(
                read_only=i % 3 == 0, labels=[f"label{i % 20}", "finance" if i % 2 else "hr"]
            ),
        )
        for i in range(TOOLS)
    ]


def agents(n: int) -> list[Agent]:
    return [
        Agent(
            id=s.id,
            display_name=s.display_name,
            owner=s.owner,
            team=s.team,
            status=s.status,
            risk_tier=s.risk_tier,
            created_at=NOW,
            updated_at=NOW,
        )
        for s in agent_specs(n)
    ]


def tools() -> list[Tool]:
    out = []
    for spec in tool_specs():
        a: ToolAnnotations = spec.annotations.to_annotations()
        out.append(Tool(spec.name, spec.description, a, None, NOW, NOW))
    return out


# The benchmark's request: agent 17 (team17) invokes tool17, which policy p17 permits.
SUBJECT = {"type": "agent", "id": agent_id(17)}
ACTION = "invoke"
RESOURCE = {"type": "tool", "id": "tool17"}
