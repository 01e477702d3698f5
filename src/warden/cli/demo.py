"""``warden demo``: a small fleet, a policy bundle and a scripted day, on a throwaway store.

Nothing touches ``./.warden``: the store lives in a temporary folder removed at the end.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from warden.audit.models import VerifyReport
from warden.cli.agents import status_text
from warden.cli.audit import report_dict
from warden.cli.backend import LocalBackend
from warden.cli.output import console, fail, print_json
from warden.cli.policy import OUTCOME_STYLE
from warden.cli.tools import annotation_text
from warden.decisions.models import Action, Decision, DecisionRequest, Entity
from warden.errors import WardenError
from warden.policy.bundle import load_bundle
from warden.registry.models import Agent, AgentStatus, RiskTier, Tool
from warden.registry.specs import AgentSpec, AnnotationsSpec, ToolSpec

TRUST_DOMAIN = "spiffe://acme.example/agent/"


def _agent(
    name: str, display: str, owner: str, team: str, tier: RiskTier, status: AgentStatus
) -> AgentSpec:
    return AgentSpec(
        id=TRUST_DOMAIN + name,
        display_name=display,
        owner=owner,
        team=team,
        risk_tier=tier,
        status=status,
    )


def _tool(
    name: str, description: str, *labels: str, read_only: bool = False, **hints: bool
) -> ToolSpec:
    annotations = AnnotationsSpec(read_only=read_only, labels=list(labels), **hints)
    return ToolSpec(name=name, description=description, annotations=annotations)


ACTIVE, SUSPENDED = AgentStatus.ACTIVE, AgentStatus.SUSPENDED

FLEET = (
    _agent("ap-reconciler", "AP reconciliation", "maria.lopez@acme.example", "finance",
           RiskTier.HIGH, ACTIVE),
    _agent("treasury-payouts", "Treasury payouts", "maria.lopez@acme.example", "finance",
           RiskTier.CRITICAL, ACTIVE),
    _agent("expense-legacy", "Legacy expense bot", "tom.berg@acme.example", "finance",
           RiskTier.MEDIUM, SUSPENDED),
    _agent("hr-onboarding", "HR onboarding", "priya.shah@acme.example", "hr",
           RiskTier.MEDIUM, ACTIVE),
    _agent("incident-triage", "Incident triage", "sam.okafor@acme.example", "operations",
           RiskTier.HIGH, ACTIVE),
)  # fmt: skip

TOOLS = (
    _tool("ledger.read", "Read general-ledger entries", "finance", read_only=True, external=False),
    _tool("payments.transfer", "Send a payment to a supplier's bank account", "finance"),
    _tool("hr.records.read", "Read an employee's personnel record", "pii",
          read_only=True, external=False),
    _tool("email.send", "Send an email to any address", destructive=False),
    _tool("servers.restart", "Restart a production server", external=False),
    _tool("files.delete", "Delete a file from the shared drive", external=False),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted action: ``agent`` (a name under the trust domain) invokes ``tool``."""

    agent: str
    tool: str
    story: str


SCRIPT = (
    Step("ap-reconciler", "ledger.read", "reads this month's ledger"),
    Step("ap-reconciler", "payments.transfer", "pays a supplier invoice"),
    Step("treasury-payouts", "payments.transfer", "runs the approved payout batch"),
    Step("hr-onboarding", "hr.records.read", "reads a new hire's record"),
    Step("hr-onboarding", "email.send", "emails the new hire a welcome pack"),
    Step("hr-onboarding", "ledger.read", "tries to read the finance ledger"),
    Step("incident-triage", "servers.restart", "restarts a hung web server"),
    Step("incident-triage", "hr.records.read", "tries to read personnel records"),
    Step("incident-triage", "files.delete", "tries to delete logs to free disk space"),
    Step("shadow-scraper", "hr.records.read", "an unregistered agent reads personnel records"),
    Step("expense-legacy", "ledger.read", "a suspended agent reads the ledger"),
)


@dataclass(frozen=True, slots=True)
class Played:
    number: int
    step: Step
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "agent": TRUST_DOMAIN + self.step.agent,
            "action": "invoke",
            "tool": self.step.tool,
            "story": self.step.story,
            **self.decision.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What the demo registered, decided and found in the ledger."""

    agents: list[Agent]
    tools: list[Tool]
    played: list[Played]
    ledger: VerifyReport


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    as_json: bool = typer.Option(False, "--json", help="Print the decisions as JSON."),
) -> None:
    """Run a scripted day of a small agent fleet on a throwaway store and show each decision."""
    try:
        run = run_demo()
    except WardenError as exc:
        fail(f"the demo could not run: {exc.message}")
    if as_json:
        played = [p.to_dict() for p in run.played]
        print_json({"decisions": played, "ledger": report_dict(run.ledger)})
        return
    console.print("[bold]Warden demo[/] · a throwaway store · the demo policy bundle\n")
    fleet = _titled(fleet_table(run.agents), "The fleet (shadow-scraper is not registered)")
    console.print(fleet)
    console.print(_titled(demo_tools_table(run.tools), "Tools"))
    console.print(_titled(decisions_table(run.played), "A day in the fleet"))
    _print_report(run.ledger)


def run_demo() -> DemoRun:
    """Register the fleet, apply the demo bundle, play the script, verify the ledger."""
    with (
        tempfile.TemporaryDirectory(prefix="warden-demo-") as tmp,
        LocalBackend(f"sqlite:///{Path(tmp) / 'warden.db'}") as backend,
    ):
        agents = [backend.register_agent(agent) for agent in FLEET]
        tools = [backend.register_tool(tool) for tool in TOOLS]
        with resources.as_file(resources.files("warden.cli") / "demo_bundle") as folder:
            backend.apply_policies(load_bundle(folder))
        played = [
            Played(n, step, backend.decide(_request(step))) for n, step in enumerate(SCRIPT, 1)
        ]
        return DemoRun(agents, tools, played, backend.verify_ledger())


def _request(step: Step) -> DecisionRequest:
    return DecisionRequest(
        subject=Entity("agent", TRUST_DOMAIN + step.agent),
        action=Action("invoke"),
        resource=Entity("tool", step.tool),
    )


def decisions_table(played: list[Played]) -> Table:
    table = Table("#", "agent", "action / tool", "outcome")
    table.add_column("reasons", overflow="fold", ratio=1)
    for item in played:
        outcome = item.decision.outcome.value
        table.add_row(
            str(item.number),
            f"[bold]{item.step.agent}[/]\n[dim]{item.step.story}[/]",
            f"[dim]invoke[/] {item.step.tool}",
            f"[{OUTCOME_STYLE[outcome]}]{outcome}[/]",
            "\n".join(f"{r.message} [dim]({r.code})[/]" for r in item.decision.reasons),
        )
    return table


def fleet_table(agents: list[Agent]) -> Table:
    table = Table("agent", "team", "owner", "risk tier", "status")
    for agent in agents:
        name = agent.id.removeprefix(TRUST_DOMAIN)
        tier = agent.risk_tier.value
        table.add_row(name, agent.team, agent.owner, tier, status_text(agent.status))
    return table


def demo_tools_table(tools: list[Tool]) -> Table:
    table = Table("tool", "risk", "labels")
    for tool in tools:
        labels = ", ".join(sorted(tool.annotations.labels)) or "-"
        table.add_row(tool.name, annotation_text(tool.annotations), labels)
    return table


def _titled(table: Table, title: str) -> Table:
    table.title = title
    return table


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        console.print(f"[green]ledger OK[/]: {report.detail}", highlight=False)
    else:
        console.print(f"[red]ledger BROKEN[/]: {report.detail}", highlight=False)
