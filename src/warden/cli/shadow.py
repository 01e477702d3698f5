"""``warden shadow``: sightings of unregistered or inactive agents; promote or block them.

Against a running server (``--url`` / ``WARDEN_URL``) through ``/v1/shadow``, else against the
local store (changes are refused while a server owns it). A sighting is named by its id
(``warden shadow list`` shows it), its key (``subject:spiffe://…``) or its identifier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table
from rich.text import Text

from warden.cli.backend import (
    CLI_AUTHOR,
    JSON_HELP,
    URL_HELP,
    call_or_run,
    spec_problem,
)
from warden.cli.output import console, fail, print_json
from warden.shadow.models import SightingStatus
from warden.shadow.specs import Block, Promotion, Unblock

if TYPE_CHECKING:
    from warden.runtime import Runtime

shadow_app = typer.Typer(
    help="Shadow agents: who reached Warden without being a registered, active agent.",
    no_args_is_help=True,
)
REF_HELP = "A sighting id (from `warden shadow list`), key (`subject:spiffe://…`) or identifier."
_OPTIONS = {"owner": "--owner", "team": "--team", "name": "--name", "reason": "--reason"}
_STATUS_STYLE = {"open": "yellow", "promoted": "cyan", "blocked": "red"}
_SHOWN_TOOLS = 3


def register(app: typer.Typer) -> None:
    app.add_typer(shadow_app, name="shadow")


@shadow_app.command("list")
def list_sightings(
    status: SightingStatus | None = typer.Option(None, "--status", help="Only these."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Sightings, the most recently seen first."""
    params: dict[str, Any] = {"limit": limit, **({"status": status.value} if status else {})}

    async def work(rt: Runtime) -> Any:
        return (await rt.shadow.sightings(status, limit=limit)).to_dict()

    page = call_or_run(url, "GET", "/v1/shadow", work, params=params)
    if as_json:
        print_json(page)
        return
    if not page["sightings"]:
        console.print("no shadow agents sighted", style="dim")
        return
    console.print(_table(page["sightings"]))
    if page["total"] > len(page["sightings"]):
        console.print(f"{len(page['sightings'])} of {page['total']}; use --limit", style="dim")


@shadow_app.command("show")
def show(
    ref: str = typer.Argument(..., help=REF_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Everything known of one sighting (or of every sighting of an identifier)."""

    async def work(rt: Runtime) -> Any:
        found = await rt.shadow.find(ref)
        return {"identifier": found[0].identifier, "sightings": [s.to_dict() for s in found]}

    body = call_or_run(url, "GET", _path(ref), work)
    if as_json:
        print_json(body)
        return
    for n, sighting in enumerate(body["sightings"]):
        if n:
            console.print()
        console.print(_fields(sighting))


@shadow_app.command("promote")
def promote(
    ref: str = typer.Argument(..., help=REF_HELP),
    owner: str = typer.Option(..., "--owner", help="Email of the accountable person."),
    team: str = typer.Option(..., "--team", help="Team the agent works for."),
    name: str | None = typer.Option(None, "--name", help="Display name (default: last segment)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Register a sighted SPIFFE ID as an agent, status provisioned (activate it later)."""
    try:
        spec = Promotion(owner=owner, team=team, name=name)
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))

    async def work(rt: Runtime) -> Any:
        agent, found = await rt.shadow.promote(
            ref, owner=spec.owner, team=spec.team, name=spec.name, actor=CLI_AUTHOR, now=_now()
        )
        return {"agent": agent.to_dict(), "sightings": [s.to_dict() for s in found]}

    body = call_or_run(
        url, "POST", _path(ref, "promote"), work, json=spec.model_dump(), change=True
    )
    if as_json:
        print_json(body)
        return
    agent = body["agent"]
    console.print(
        Text.assemble(
            "registered ", (agent["id"], "bold"), f" as {agent['status']} "
            f"(owner {agent['owner']}, team {agent['team']}); "
            "activate it with `warden agents` when it is ready",
        )
    )  # fmt: skip


@shadow_app.command("block")
def block(
    ref: str = typer.Argument(..., help=REF_HELP),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deny an identifier at every decision and at the token endpoint, until unblocked."""
    try:
        spec = Block(reason=reason)
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))

    async def work(rt: Runtime) -> Any:
        found = await rt.shadow.block(ref, reason=spec.reason, actor=CLI_AUTHOR, now=_now())
        return {"identifier": found[0], "sightings": [s.to_dict() for s in found[1]]}

    body = call_or_run(url, "POST", _path(ref, "block"), work, json=spec.model_dump(), change=True)
    if as_json:
        print_json(body)
        return
    console.print(Text.assemble("blocked ", (body["identifier"], "bold")))


@shadow_app.command("unblock")
def unblock(
    ref: str = typer.Argument(..., help=REF_HELP),
    reason: str = typer.Option("", "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Lift a block."""
    try:
        spec = Unblock(reason=reason)
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))

    async def work(rt: Runtime) -> Any:
        found = await rt.shadow.unblock(ref, reason=spec.reason, actor=CLI_AUTHOR, now=_now())
        return {"identifier": found[0], "sightings": [s.to_dict() for s in found[1]]}

    body = call_or_run(
        url, "POST", _path(ref, "unblock"), work, json=spec.model_dump(), change=True
    )
    if as_json:
        print_json(body)
        return
    console.print(Text.assemble("unblocked ", (body["identifier"], "bold")))


def _path(ref: str, action: str = "") -> str:
    path = f"/v1/shadow/{quote(ref, safe='/:')}"
    return f"{path}/{action}" if action else path


def _table(sightings: list[dict[str, Any]]) -> Table:
    """One row per sighting: the identifier over its kind, id and status; first over last
    seen."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("identifier", overflow="fold", ratio=5)
    table.add_column("first / last seen", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("where", overflow="fold", ratio=2)
    table.add_column("tools", overflow="fold", ratio=3)
    for s in sightings:
        status = s["status"]
        table.add_row(
            Text.assemble(
                s["identifier"],
                "\n",
                (f"{s['kind']} · {s['id']} · ", "dim"),
                (status, _STATUS_STYLE.get(status, "")),
            ),
            f"{_when(s['first_seen'], minutes=True)}\n{_when(s['last_seen'], minutes=True)}",
            str(s["count"]),
            "\n".join(s["where"]),
            Text(_tools(s["tools"])),
        )
    return table


def _fields(s: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows = [
        ("id", s["id"]),
        ("identifier", s["identifier"]),
        ("kind", s["kind"]),
        ("status", _status(s)),
        ("first seen", _when(s["first_seen"])),
        ("last seen", _when(s["last_seen"])),
        ("count", str(s["count"])),
        ("where", ", ".join(s["where"])),
        ("tools", "\n".join(s["tools"]) or "-"),
        ("people", "\n".join(s["humans"]) or "-"),
        ("registry", s["registry_status"] or "not registered"),
    ]
    if s["status_by"]:
        rows.append((s["status"] + " by", f"{s['status_by']} at {_when(s['status_at'])}"))
    if s["status_reason"]:
        rows.append(("reason", s["status_reason"]))
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    return table


def _status(s: dict[str, Any]) -> Text:
    return Text(s["status"], style=_STATUS_STYLE.get(s["status"], ""))


def _tools(tools: list[str]) -> str:
    shown = "\n".join(tools[:_SHOWN_TOOLS])
    more = len(tools) - _SHOWN_TOOLS
    return f"{shown}\n+{more} more" if more > 0 else shown or "-"


def _when(value: str | None, *, minutes: bool = False) -> str:
    """UTC, to the second (or the minute, in tables)."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d %H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC)
