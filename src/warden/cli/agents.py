"""``warden agents``: register, list and show agents."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.table import Table

from warden.cli.backend import JSON_HELP, URL_HELP, connect, spec_problem
from warden.cli.credentials import credentials_app
from warden.cli.output import console, fail, print_json
from warden.registry.models import Agent, AgentStatus, RiskTier
from warden.registry.specs import AgentSpec

agents_app = typer.Typer(help="Register, list and show agents.", no_args_is_help=True)
agents_app.add_typer(credentials_app, name="credentials")

_OPTIONS = {
    "id": "--id",
    "display_name": "--name",
    "owner": "--owner",
    "team": "--team",
    "status": "--status",
    "risk_tier": "--risk-tier",
}
_STATUS_STYLE = {"active": "green", "provisioned": "cyan", "suspended": "yellow", "retired": "dim"}


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")


@agents_app.command("add")
def add(
    agent_id: str = typer.Option(
        ..., "--id", help="SPIFFE ID, e.g. spiffe://acme.example/agent/ap-clerk."
    ),
    name: str = typer.Option(..., "--name", help="Display name."),
    owner: str = typer.Option(..., "--owner", help="Email of the accountable person."),
    team: str = typer.Option(..., "--team", help="Team the agent works for."),
    status: AgentStatus = typer.Option(AgentStatus.ACTIVE, "--status", help="Lifecycle status."),
    risk_tier: RiskTier = typer.Option(RiskTier.MEDIUM, "--risk-tier", help="Risk tier."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Register an agent."""
    try:
        spec = AgentSpec(
            id=agent_id,
            display_name=name,
            owner=owner,
            team=team,
            status=status,
            risk_tier=risk_tier,
        )
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    with connect(url) as backend:
        agent = backend.register_agent(spec)
    if as_json:
        print_json(agent.to_dict())
        return
    console.print(f"registered [bold]{agent.id}[/] ({agent.display_name})", highlight=False)


@agents_app.command("list")
def list_agents(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List registered agents."""
    with connect(url) as backend:
        agents = backend.agents()
    if as_json:
        print_json([a.to_dict() for a in agents])
        return
    if not agents:
        console.print("no agents are registered", style="dim")
        return
    console.print(agents_table(agents))


@agents_app.command("show")
def show(
    agent_id: str = typer.Argument(..., help="The agent's SPIFFE ID."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show one agent."""
    with connect(url) as backend:
        agent = backend.agent(agent_id)
    if as_json:
        print_json(agent.to_dict())
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in _fields(agent):
        table.add_row(label, value)
    console.print(table)


def agents_table(agents: list[Agent]) -> Table:
    table = Table("name", "team", "owner", "status", "risk tier")
    table.add_column("agent", overflow="fold")
    for agent in agents:
        table.add_row(
            agent.display_name,
            agent.team,
            agent.owner,
            status_text(agent.status),
            agent.risk_tier.value,
            agent.id,
        )
    return table


def status_text(status: AgentStatus) -> str:
    return f"[{_STATUS_STYLE.get(status.value, 'white')}]{status.value}[/]"


def _fields(agent: Agent) -> list[tuple[str, str]]:
    return [
        ("id", agent.id),
        ("name", agent.display_name),
        ("owner", agent.owner),
        ("team", agent.team),
        ("status", status_text(agent.status)),
        ("risk tier", agent.risk_tier.value),
        ("created", agent.created_at.isoformat(timespec="seconds")),
        ("updated", agent.updated_at.isoformat(timespec="seconds")),
    ]
