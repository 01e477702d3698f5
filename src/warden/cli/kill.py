"""``warden kill`` and ``warden revive``: stop an agent, a session, a delegation chain, a mandate
or everything a person set in motion — on the very next action — and lift it again.

Against a running server (``--url`` / ``WARDEN_URL``) through ``/v1/kill`` and ``/v1/revive``:
the server holds the kill in memory and enforces it at once. Killing through the local store is
refused while a server owns it (the server would not see it until its next sync)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich import box
from rich.table import Table

from warden.cli.backend import CLI_AUTHOR, JSON_HELP, URL_HELP, call_or_run
from warden.cli.output import console, print_json
from warden.kill.models import KillKind

if TYPE_CHECKING:
    from warden.runtime import Runtime

KIND_HELP = (
    "agent (SPIFFE ID), session (ses_…), chain (chn_… or hop_…), mandate (id), person (email)"
)
REASON_HELP = "Why: it goes in the audit trail and in every denial it causes."


def register(app: typer.Typer) -> None:
    app.command("kill")(kill)
    app.command("revive")(revive)
    app.command("kills")(kills)


def kill(
    kind: KillKind = typer.Argument(..., help=KIND_HELP),
    target: str = typer.Argument(..., help="The id (or the person's email) to stop."),
    reason: str = typer.Option(..., "--reason", help=REASON_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Stop an agent, session, chain, mandate or person: its next action is denied everywhere,
    its tokens revoked, held approvals cancelled."""
    body = _change("/v1/kill", kind, target, reason, url, revive=False)
    if as_json:
        print_json(body)
        return
    k = body["kill"]
    console.print(f"killed {k['kind']} {k['target']} ({k['id']})", style="bold red")
    for line in body["effects"]:
        console.print(f"  {line}")
    for line in body["problems"]:
        console.print(f"  ! {line}", style="yellow")


def revive(
    kind: KillKind = typer.Argument(..., help=KIND_HELP),
    target: str = typer.Argument(..., help="The id (or the person's email) to revive."),
    reason: str = typer.Option(..., "--reason", help=REASON_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Lift a kill. Tokens, mandates and chain hops it revoked stay revoked."""
    body = _change("/v1/revive", kind, target, reason, url, revive=True)
    if as_json:
        print_json(body)
        return
    k = body["kill"]
    console.print(f"revived {k['kind']} {k['target']} (kill {k['id']})", style="bold green")
    for line in body["effects"]:
        console.print(f"  {line}")


def kills(
    every: bool = typer.Option(False, "--all", help="Revived kills too."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Kills in force (with --all, revived ones too), newest first."""

    async def work(rt: Runtime) -> Any:
        found = await rt.kills.list(active_only=not every, limit=limit)
        return {"kills": [k.to_dict() for k in found]}

    params = {"all": str(every).lower(), "limit": limit}
    body = call_or_run(url, "GET", "/v1/kills", work, params=params)
    if as_json:
        print_json(body)
        return
    if not body["kills"]:
        console.print("nothing is killed", style="dim")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("at", "kind", "target", "by", "reason", "revived"):
        table.add_column(name, overflow="fold", no_wrap=name in ("at", "kind"))
    for k in body["kills"]:
        revived = k["revived_at"][:19].replace("T", " ") if k["revived_at"] else "-"
        table.add_row(k["created_at"][:19].replace("T", " "), k["kind"], k["target"],
                      k["actor"], k["reason"], revived)  # fmt: skip
    console.print(table)


def _change(
    path: str, kind: KillKind, target: str, reason: str, url: str | None, *, revive: bool
) -> Any:
    async def work(rt: Runtime) -> Any:
        now = datetime.now(UTC)
        act = rt.kills.revive if revive else rt.kills.kill
        result = await act(kind, target, reason=reason, actor=CLI_AUTHOR, now=now)
        return result.to_dict()

    body = {"kind": kind.value, "target": target, "reason": reason}
    return call_or_run(url, "POST", path, work, change=True, json=body)
