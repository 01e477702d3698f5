"""``warden agents``: the inventory — register, find, change and retire agents.

Lifecycle: ``provisioned → active → suspended → retired`` (and back from suspended); every
change names who and why in the ledger (``warden agents suspend <id> --reason ...``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from pydantic import ValidationError
from rich.table import Table

from warden.cli.backend import JSON_HELP, URL_HELP, connect, spec_problem
from warden.cli.credentials import credentials_app
from warden.cli.output import console, fail, print_json
from warden.registry.models import Agent, AgentStatus, RiskTier
from warden.registry.query import MAX_PAGE, AgentQuery, AgentSort
from warden.registry.service import warnings_for
from warden.registry.specs import AgentSpec, AgentUpdate, StatusChange

agents_app = typer.Typer(
    help="The agent inventory: register, list, change and retire agents.", no_args_is_help=True
)
agents_app.add_typer(credentials_app, name="credentials")

_OPTIONS = {
    "id": "--id",
    "display_name": "--name",
    "owner": "--owner",
    "team": "--team",
    "status": "--status",
    "risk_tier": "--risk-tier",
    "co_owners": "--co-owner",
    "purpose": "--purpose",
    "expires_at": "--expires",
    "owners": "--owner",
    "reason": "--reason",
}
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]
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
    co_owners: list[str] = typer.Option(
        [], "--co-owner", help="Another accountable person (repeatable)."
    ),
    purpose: str = typer.Option("", "--purpose", help="What the agent is for."),
    expires: datetime | None = typer.Option(
        None,
        "--expires",
        help="Suspend it automatically after this UTC time (e.g. 2027-03-31).",
        formats=_DATE_FORMATS,
    ),
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
            co_owners=co_owners,
            purpose=purpose,
            expires_at=_utc(expires),
        )
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    with connect(url) as backend:
        agent = backend.register_agent(spec)
    if as_json:
        print_json({**agent.to_dict(), "warnings": warnings_for(agent)})
        return
    console.print(f"registered [bold]{agent.id}[/] ({agent.display_name})", highlight=False)
    _warn(agent)


@agents_app.command("list")
def list_agents(
    owner: str | None = typer.Option(None, "--owner", help="Only agents this person owns."),
    team: str | None = typer.Option(None, "--team", help="Only this team's agents."),
    status: AgentStatus | None = typer.Option(None, "--status", help="Only this status."),
    risk_tier: RiskTier | None = typer.Option(None, "--risk-tier", help="Only this risk tier."),
    search: str | None = typer.Option(
        None, "--search", "-q", help="Text in the id, name or purpose."
    ),
    idle_days: int | None = typer.Option(
        None, "--idle-days", min=1, help="Only agents with no decision for this many days."
    ),
    active_days: int | None = typer.Option(
        None, "--active-days", min=1, help="Only agents decided about in the last N days."
    ),
    sort: AgentSort = typer.Option(AgentSort.ID, "--sort", help="Sort by this field."),
    desc: bool = typer.Option(False, "--desc", help="Sort descending."),
    limit: int = typer.Option(50, "--limit", min=1, max=MAX_PAGE, help="Agents per page."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many agents."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List agents: filter by owner, team, status, risk or activity; search; page."""
    now = datetime.now(UTC)
    query = AgentQuery(
        owner=owner,
        team=team,
        status=status,
        risk_tier=risk_tier,
        search=search,
        inactive_since=now - timedelta(days=idle_days) if idle_days else None,
        active_since=now - timedelta(days=active_days) if active_days else None,
        sort=sort,
        descending=desc,
        limit=limit,
        offset=offset,
    )
    with connect(url) as backend:
        page = backend.search_agents(query)
    if as_json:
        print_json(page.to_dict())
        return
    if not page.agents:
        filtered = any((owner, team, status, risk_tier, search, idle_days, active_days))
        message = "no agents match" if filtered or offset else "no agents are registered"
        console.print(message, style="dim")
        return
    console.print(agents_table(page.agents))
    last = offset + len(page.agents)
    more = f" · next page: --offset {last}" if last < page.total else ""
    console.print(f"{offset + 1} to {last} of {page.total:,} agents{more}", style="dim")


@agents_app.command("orphaned")
def orphaned(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Agents suspended because none of their owners is active in the IdP any more."""
    with connect(url) as backend:
        agents = backend.orphaned()
    if as_json:
        print_json({"agents": [a.to_dict() for a in agents]})
        return
    if not agents:
        console.print("no orphaned agents", style="dim")
        return
    console.print(agents_table(agents))
    console.print("reassign with: warden agents update <id> --owner <email>", style="dim")


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
        print_json({**agent.to_dict(), "warnings": warnings_for(agent)})
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in _fields(agent):
        table.add_row(label, value)
    console.print(table)
    _warn(agent)


def _transition(
    to: AgentStatus, agent_id: str, reason: str, url: str | None, as_json: bool
) -> None:
    try:
        change = StatusChange(status=to, reason=reason)
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    with connect(url) as backend:
        agent = backend.set_status(agent_id, change)
    if as_json:
        print_json(agent.to_dict())
        return
    console.print(f"{agent.id} is now {status_text(agent.status)}", highlight=False)


_AGENT_ARG = typer.Argument(..., help="The agent's SPIFFE ID.")
_REASON = typer.Option(..., "--reason", help="Why (recorded in the audit ledger).")
_URL = typer.Option(None, "--url", help=URL_HELP)
_JSON = typer.Option(False, "--json", help=JSON_HELP)


@agents_app.command("activate")
def activate(
    agent_id: str = _AGENT_ARG, reason: str = _REASON, url: str | None = _URL, as_json: bool = _JSON
) -> None:
    """Let a provisioned or suspended agent act."""
    _transition(AgentStatus.ACTIVE, agent_id, reason, url, as_json)


@agents_app.command("suspend")
def suspend(
    agent_id: str = _AGENT_ARG, reason: str = _REASON, url: str | None = _URL, as_json: bool = _JSON
) -> None:
    """Stop an agent; its next action is denied. Undo with `activate`."""
    _transition(AgentStatus.SUSPENDED, agent_id, reason, url, as_json)


@agents_app.command("retire")
def retire(
    agent_id: str = _AGENT_ARG, reason: str = _REASON, url: str | None = _URL, as_json: bool = _JSON
) -> None:
    """Retire an agent for good: it keeps its history and can never act again."""
    _transition(AgentStatus.RETIRED, agent_id, reason, url, as_json)


@agents_app.command("update")
def update(
    agent_id: str = _AGENT_ARG,
    name: str | None = typer.Option(None, "--name", help="New display name."),
    team: str | None = typer.Option(None, "--team", help="New team."),
    purpose: str | None = typer.Option(None, "--purpose", help="What the agent is for."),
    risk_tier: RiskTier | None = typer.Option(None, "--risk-tier", help="New risk tier."),
    owners: list[str] = typer.Option(
        [], "--owner", help="Replace the owners (repeatable; the first is primary)."
    ),
    expires: datetime | None = typer.Option(
        None, "--expires", help="New expiry (UTC).", formats=_DATE_FORMATS
    ),
    no_expiry: bool = typer.Option(False, "--no-expiry", help="Remove the expiry."),
    url: str | None = _URL,
    as_json: bool = _JSON,
) -> None:
    """Change an agent's details, owners or expiry. Reassigning an orphaned agent to an
    active owner lets it act again."""
    try:
        changes = AgentUpdate(
            display_name=name,
            team=team,
            purpose=purpose,
            risk_tier=risk_tier,
            owners=owners or None,
            expires_at=_utc(expires),
            clear_expiry=no_expiry,
        )
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    if changes == AgentUpdate():
        fail("nothing to change: give at least one option (see --help)")
    with connect(url) as backend:
        agent = backend.update_agent(agent_id, changes)
    if as_json:
        print_json(agent.to_dict())
        return
    console.print(f"updated [bold]{agent.id}[/] ({status_text(agent.status)})", highlight=False)
    _warn(agent)


def agents_table(agents: list[Agent]) -> Table:
    table = Table("agent", "name", "team", "owners", "status", "risk", "last active")
    table.columns[0].overflow = "fold"
    for agent in agents:
        owners = agent.owner + (f" +{len(agent.co_owners)}" if agent.co_owners else "")
        table.add_row(
            agent.id.removeprefix("spiffe://"),
            agent.display_name,
            agent.team,
            owners,
            status_text(agent.status, agent.status_reason),
            agent.risk_tier.value,
            _ago(agent.last_active_at),
        )
    return table


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def _warn(agent: Agent) -> None:
    for warning in warnings_for(agent):
        console.print(f"warning: {warning}", style="yellow", highlight=False)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def status_text(status: AgentStatus, reason: str = "") -> str:
    why = f" ({reason})" if reason and status is not AgentStatus.ACTIVE else ""
    return f"[{_STATUS_STYLE.get(status.value, 'white')}]{status.value}{why}[/]"


def _fields(agent: Agent) -> list[tuple[str, str]]:
    def stamp(value: datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value else "-"

    return [
        ("id", agent.id),
        ("name", agent.display_name),
        ("owners", ", ".join(agent.owners)),
        ("team", agent.team),
        ("purpose", agent.purpose or "-"),
        ("status", status_text(agent.status, agent.status_reason)),
        ("risk tier", agent.risk_tier.value),
        ("expires", stamp(agent.expires_at)),
        ("last active", stamp(agent.last_active_at)),
        ("created", stamp(agent.created_at)),
        ("updated", stamp(agent.updated_at)),
    ]
