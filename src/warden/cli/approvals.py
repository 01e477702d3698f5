"""``warden approvals``: held actions waiting for a person; approve or deny one.

Listing and showing work against a running server (``--url`` / ``WARDEN_URL``) through
``/v1/approvals``, or read the local store. Voting is a person's act: it goes to a running
server with that person's access token (``WARDEN_TOKEN=wdn_…``, issued with the ``approver``
role by ``warden access grant``). It is refused on the local store, where the CLI has no
person's identity to record as the approver.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from warden.approvals.models import ApprovalStatus
from warden.cli.backend import JSON_HELP, URL_HELP, call_or_run
from warden.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from warden.approvals.service import ApprovalService
    from warden.runtime import Runtime

approvals_app = typer.Typer(
    help="Step-up approvals: actions held for a person; approve or deny one.",
    no_args_is_help=True,
)
ID_HELP = "An approval id (`apr_…`, from `warden approvals list` or the alert)."
COMMENT_HELP = "Why, in your words (recorded in the ledger)."
_STATUS_STYLE = {
    "pending": "yellow",
    "approved": "green",
    "used": "green",
    "denied": "red",
    "expired": "dim",
    "cancelled": "red",
}
LOCAL_VOTE = (
    "approving or denying needs a running warden server and an approver's token: "
    "set WARDEN_URL (or --url) and WARDEN_TOKEN to your `wdn_…` token with the `approver` role "
    "(the local store has no person to record as the approver)"
)


def register(app: typer.Typer) -> None:
    app.add_typer(approvals_app, name="approvals")


@approvals_app.command("list")
def list_approvals(
    status: ApprovalStatus | None = typer.Option(None, "--status", help="Only these."),
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's requests."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Approval requests, the newest first."""
    wanted = status.value if status else None
    params: dict[str, Any] = {"limit": limit}
    params.update({k: v for k, v in (("agent", agent), ("status", wanted)) if v})

    async def work(rt: Runtime) -> Any:
        found = await _service(rt).list(status=wanted, agent=agent, limit=limit)
        return {"approvals": [r.to_dict() for r in found]}

    body = call_or_run(url, "GET", "/v1/approvals", work, params=params)
    if as_json:
        print_json(body)
        return
    if not body["approvals"]:
        console.print("no approval requests", style="dim")
        return
    console.print(_table(body["approvals"]))


@approvals_app.command("show")
def show(
    approval: str = typer.Argument(..., help=ID_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One request: the held action (what you would approve), why it was held, the votes."""

    async def work(rt: Runtime) -> Any:
        return (await _service(rt).get(approval)).to_dict()

    body = call_or_run(url, "GET", f"/v1/approvals/{approval}", work)
    if as_json:
        print_json(body)
        return
    console.print(_fields(body))


@approvals_app.command("approve")
def approve(
    approval: str = typer.Argument(..., help=ID_HELP),
    comment: str = typer.Option("", "--comment", help=COMMENT_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Approve a held action (needs a server and an approver's token)."""
    _vote("approve", approval, comment, url, as_json)


@approvals_app.command("deny")
def deny(
    approval: str = typer.Argument(..., help=ID_HELP),
    comment: str = typer.Option("", "--comment", help=COMMENT_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deny a held action (needs a server and an approver's token)."""
    _vote("deny", approval, comment, url, as_json)


def _vote(kind: str, approval: str, comment: str, url: str | None, as_json: bool) -> None:
    if not (url or os.environ.get("WARDEN_URL")):
        fail(LOCAL_VOTE)

    async def work(rt: Runtime) -> Any:  # never reached: voting is over HTTP only
        raise AssertionError(LOCAL_VOTE)

    path = f"/v1/approvals/{approval}/{kind}"
    body = call_or_run(url, "POST", path, work, json={"comment": comment}, change=True)
    if as_json:
        print_json(body)
        return
    line = Text.assemble(f"{kind} recorded on ", (body["id"], "bold"), " · now ", _status(body))
    if body["status"] == "pending":
        line.append(f" ({body['approvals']} of {body['required']} approvals)")
    console.print(line)


def _service(rt: Runtime) -> ApprovalService:
    return rt.approvals


def _table(approvals: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("approval / agent", overflow="fold", min_width=30, ratio=3)
    table.add_column("tool", overflow="fold", ratio=1)
    table.add_column("for", overflow="fold", ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("votes", justify="right", no_wrap=True)
    table.add_column("expires", no_wrap=True)
    for a in approvals:
        table.add_row(
            Text.assemble((a["id"], "bold"), "\n", a["agent"]),
            a["tool"],
            a["person"] or "-",
            _status(a),
            f"{a['approvals']}/{a['required']}",
            _when(a["expires_at"]),
        )
    return table


def _fields(a: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str | Text]] = [
        ("id", a["id"]),
        ("status", _status(a)),
        ("agent", a["agent"]),
        ("for", a["person"] or "-"),
        ("tool", a["tool"]),
        ("mandate", a["mandate_id"] or "-"),
        ("chain", a["chain_id"] or "-"),
        ("why held", "\n".join(f"{r.get('code')}: {r.get('message', '')}" for r in a["reasons"])),
        ("held action", _held(a["held"])),
        ("approvals", f"{a['approvals']} of {a['required']} needed"),
        ("created", _when(a["created_at"])),
        ("expires", _when(a["expires_at"])),
    ]
    if a["separation_of_duties"]:
        rows.append(("", Text("separation of duties: the agent's sole owner may not vote", "dim")))
    for v in a["votes"]:
        said = f" — {v['comment']}" if v["comment"] else ""
        rows.append((v["vote"], f"{v['approver']} at {_when(v['at'])}{said}"))
    if a["status_reason"]:
        rows.append(("reason", a["status_reason"]))
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    return table


def _held(held: dict[str, Any]) -> str:
    return orjson.dumps(held, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _status(a: dict[str, Any]) -> Text:
    return Text(a["status"], style=_STATUS_STYLE.get(a["status"], ""))


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
