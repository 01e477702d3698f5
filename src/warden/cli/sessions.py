"""``warden sessions``: what each agent has done under each mandate; suspend or resume one.

Against a running server (``--url`` / ``WARDEN_URL``) through ``/v1/sessions``, else against the
local store (its stored summaries; changes are refused while a server owns it). A session is
named by its id (``ses_…``, from ``warden sessions list``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from warden.sessions.models import SessionStatus
from warden.sessions.specs import Change

if TYPE_CHECKING:
    from warden.runtime import Runtime

sessions_app = typer.Typer(
    help="Sessions: what each agent has done under each mandate; suspend or resume one.",
    no_args_is_help=True,
)
ID_HELP = "A session id (`ses_…`, from `warden sessions list`)."
_STATUS_STYLE = {"active": "green", "suspended": "red"}
_SHOWN = 3


def register(app: typer.Typer) -> None:
    app.add_typer(sessions_app, name="sessions")


@sessions_app.command("list")
def list_sessions(
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's sessions."),
    status: SessionStatus | None = typer.Option(None, "--status", help="Only these."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Sessions, the most recently active first."""
    wanted = status.value if status else None
    params: dict[str, Any] = {"limit": limit}
    params.update({k: v for k, v in (("agent", agent), ("status", wanted)) if v})

    async def work(rt: Runtime) -> Any:
        return {"sessions": await rt.sessions.list(agent=agent, status=wanted, limit=limit)}

    body = call_or_run(url, "GET", "/v1/sessions", work, params=params)
    if as_json:
        print_json(body)
        return
    if not body["sessions"]:
        console.print("no sessions", style="dim")
        return
    console.print(_table(body["sessions"]))


@sessions_app.command("show")
def show(
    session: str = typer.Argument(..., help=ID_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One session: summary, windows and recent actions (never argument values)."""

    async def work(rt: Runtime) -> Any:
        return await rt.sessions.show(session, _now())

    body = call_or_run(url, "GET", f"/v1/sessions/{session}", work)
    if as_json:
        print_json(body)
        return
    console.print(_fields(body))
    if body.get("windows"):
        console.print(_windows(body["windows"]))
    if body.get("recent"):
        console.print(_recent(body["recent"]))


@sessions_app.command("suspend")
def suspend(
    session: str = typer.Argument(..., help=ID_HELP),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deny every further action in the session until it is resumed."""
    _change("suspend", session, reason, url, as_json)


@sessions_app.command("resume")
def resume(
    session: str = typer.Argument(..., help=ID_HELP),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Lift a session's suspension."""
    _change("resume", session, reason, url, as_json)


def _change(action: str, session: str, reason: str, url: str | None, as_json: bool) -> None:
    try:
        spec = Change(reason=reason)
    except ValidationError as exc:
        fail(spec_problem(exc, {"reason": "--reason"}))

    async def work(rt: Runtime) -> Any:
        method = rt.sessions.suspend if action == "suspend" else rt.sessions.resume
        return await method(session, actor=CLI_AUTHOR, reason=spec.reason, now=_now())

    path = f"/v1/sessions/{session}/{action}"
    body = call_or_run(url, "POST", path, work, json=spec.model_dump(), change=True)
    if as_json:
        print_json(body)
        return
    done = "suspended" if action == "suspend" else "resumed"
    console.print(Text.assemble(f"{done} ", (body["id"], "bold"), f" ({body['agent']})"))


def _table(sessions: list[dict[str, Any]]) -> Table:
    """One row per session: its id over the agent, mandate and status; when, how much, what
    it saw (the tools it used are in ``sessions show``)."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("session / agent", overflow="fold", min_width=30, ratio=3)
    table.add_column("last", no_wrap=True)
    table.add_column("actions", justify="right", no_wrap=True)
    table.add_column("denied", justify="right", no_wrap=True)
    table.add_column("drift", justify="right", no_wrap=True)
    table.add_column("labels seen", overflow="fold", ratio=1)
    for s in sessions:
        mandate = s["mandate"] or "no mandate"
        table.add_row(
            Text.assemble(
                (s["id"], "bold"), "\n", s["agent"], "\n", (f"{mandate} · ", "dim"), _status(s)
            ),
            _when(s["last_at"] or s["started_at"], short=True),
            str(s["actions"]),
            str(s["denied"]),
            "-" if s["drift"] is None else str(s["drift"]),
            Text(_few(s["labels_seen"])),
        )
    return table


def _fields(s: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("id", s["id"]),
        ("agent", s["agent"]),
        ("mandate", s["mandate"] or "no mandate"),
        ("status", _status(s)),
        ("started", _when(s["started_at"])),
        ("last action", _when(s["last_at"])),
        ("actions", f"{s['actions']} ({s['denied']} denied, {s['observations']} observations)"),
        ("drift", "-" if s["drift"] is None else f"{s['drift']}/100"),
        ("tools", ", ".join(s["tools_used"]) or "-"),
        ("labels seen", ", ".join(s["labels_seen"]) or "-"),
        ("labels changed", ", ".join(s["labels_changed"]) or "-"),
        ("destinations", ", ".join(s["destinations"]) or "-"),
    ]
    if s["status_by"]:
        rows.append((f"{s['status']} by", f"{s['status_by']} at {_when(s['status_at'])}"))
    if s["status_reason"]:
        rows.append(("reason", s["status_reason"]))
    if not s.get("in_memory"):
        rows.append(("", Text("stored summary: windows and recent actions are not kept", "dim")))
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    return table


def _windows(windows: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="windows", title_justify="left")
    for name in ("window", "actions", "destructive", "external", "denied"):
        table.add_column(name, justify="left" if name == "window" else "right")
    table.add_column("by tool", overflow="fold")
    for name, w in windows.items():
        tools = ", ".join(f"{tool} {n}" for tool, n in w["tools"].items()) or "-"
        counts = (str(w[k]) for k in ("actions", "destructive", "external", "denied"))
        table.add_row(name, *counts, tools)
    return table


def _recent(recent: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="recent actions", title_justify="left")
    for name in ("at", "tool", "outcome", "drift"):
        table.add_column(name, no_wrap=name != "tool", overflow="fold")
    style = {"allow": "green", "step_up": "yellow", "deny": "red"}
    for action in recent:
        drift = "-" if action["drift"] is None else str(action["drift"])
        outcome = Text(action["outcome"], style=style.get(action["outcome"], ""))
        table.add_row(_when(action["at"]), action["tool"], outcome, drift)
    return table


def _status(s: dict[str, Any]) -> Text:
    return Text(s["status"], style=_STATUS_STYLE.get(s["status"], ""))


def _few(items: list[str]) -> str:
    shown = "\n".join(items[:_SHOWN])
    more = len(items) - _SHOWN
    return f"{shown}\n+{more} more" if more > 0 else shown or "-"


def _when(value: str | None, short: bool = False) -> str:
    """UTC, to the second (``short``: month, day, hour and minute, for lists)."""
    if not value:
        return "-"
    form = "%m-%d %H:%MZ" if short else "%Y-%m-%d %H:%M:%SZ"
    return datetime.fromisoformat(value).astimezone(UTC).strftime(form)


def _now() -> datetime:
    return datetime.now(UTC)
