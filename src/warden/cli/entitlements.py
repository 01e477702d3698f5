"""``warden entitlements``: what each agent may do, granted with a justification.

    warden entitlements grant <agent> erp.invoice.read --justification "matches invoices"
    warden entitlements list --agent <agent>
    warden entitlements revoke <id> --reason "left the AP team"
    warden entitlements templates [<name> | <file.yaml>]
    warden entitlements apply-template <agent> ap-reconciliation --expires 90d
    warden entitlements unused --days 30 [--apply]
    warden entitlements restore <id>

Against a running server (``--url`` / ``WARDEN_URL``, ``WARDEN_TOKEN``) through
``/v1/entitlements``, else against the local store. Every change is audited and takes effect
on the next decision.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table

from warden.cli.backend import (
    CLI_AUTHOR,
    JSON_HELP,
    URL_HELP,
    Backend,
    HttpBackend,
    LocalBackend,
    connect,
)
from warden.cli.output import console, fail, print_json
from warden.entitlements.errors import TemplateInvalid, TemplateNotFound
from warden.entitlements.models import Entitlement, GrantState
from warden.entitlements.templates import (
    PACKAGED,
    Template,
    load_file,
    packaged,
    packaged_template,
)

entitlements_app = typer.Typer(
    help="Grant, review and right-size what agents may do.", no_args_is_help=True
)

EXPIRES_HELP = "Stop permitting after this: 90d, 12h, 2027-01-31 or an ISO time with a zone."
_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_STATE_STYLE = {"active": "green", "pruned": "yellow", "revoked": "dim"}

Doc = dict[str, Any]


def register(app: typer.Typer) -> None:
    app.add_typer(entitlements_app, name="entitlements")


@entitlements_app.command("list")
def list_grants(
    agent: str | None = typer.Option(None, "--agent", help="Only this agent's grants."),
    state: GrantState | None = typer.Option(None, "--state", help="Only grants in this state."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Grants: what, to whom, why, by whom, until when."""
    params = {k: v for k, v in {"agent": agent, "state": state}.items() if v is not None}

    async def local(runtime: Any) -> Doc:
        return {"entitlements": _docs(await runtime.entitlements.list(agent_id=agent, state=state))}

    with connect(url) as backend:
        grants = _read(backend, local, "GET", "/v1/entitlements", params=params)["entitlements"]
    if as_json:
        print_json({"entitlements": grants})
        return
    if not grants:
        console.print("no entitlements match", style="dim")
        return
    print_grants(grants)


@entitlements_app.command("grant")
def grant(
    agent: str = typer.Argument(..., help="The agent's SPIFFE ID."),
    resource: str = typer.Argument(..., help="A tool's name (or a resource id; `*`: every one)."),
    justification: str = typer.Option(..., "--justification", "-j", help="Why it needs this."),
    action: str = typer.Option("invoke", "--action", help="The action granted."),
    resource_type: str = typer.Option("Tool", "--type", help="The resource's entity type."),
    expires: str | None = typer.Option(None, "--expires", help=EXPIRES_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Grant an agent an action on a resource, with a justification."""
    until = _expiry(expires)
    body = {
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource,
        "justification": justification,
        "expires_at": until.isoformat() if until else None,
    }

    async def local(runtime: Any) -> Doc:
        granted = await runtime.entitlements.grant(
            agent, action, resource_type, resource, justification=justification,
            actor=CLI_AUTHOR, now=_now(), expires_at=until,
        )  # fmt: skip
        return _doc(granted)

    with connect(url) as backend:
        made = _write(backend, local, "POST", _agent_path(agent), json=body)
    if as_json:
        print_json(made)
        return
    console.print(f"granted [bold]{made['id']}[/]: {_what(made)} to {agent}", highlight=False)


@entitlements_app.command("revoke")
def revoke(
    grant_id: str = typer.Argument(..., help="The entitlement's id."),
    reason: str = typer.Option(..., "--reason", help="Why, for the audit trail."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Withdraw a grant for good (it stays in the history)."""

    async def local(runtime: Any) -> Doc:
        return _doc(
            await runtime.entitlements.revoke(grant_id, actor=CLI_AUTHOR, reason=reason, now=_now())
        )

    path = f"/v1/entitlements/{quote(grant_id, safe='')}"
    with connect(url) as backend:
        revoked = _write(backend, local, "DELETE", path, params={"reason": reason})
    if as_json:
        print_json(revoked)
        return
    console.print(
        f"revoked [bold]{revoked['id']}[/]: {_what(revoked)} of {revoked['agent_id']}",
        highlight=False,
    )


@entitlements_app.command("templates")
def templates(
    name: str | None = typer.Argument(None, help="Show one: a template's name or a YAML file."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Provisioning templates: what an agent with each purpose needs (a file is validated)."""
    if name is not None:
        shown = _template(name).to_dict()
        if as_json:
            print_json(shown)
            return
        console.print(f"[bold]{shown['name']}[/]: {shown['purpose']}", highlight=False)
        console.print(template_table(shown["grants"]))
        return
    if url or os.environ.get("WARDEN_URL"):
        with connect(url) as backend:
            assert isinstance(backend, HttpBackend)
            found = backend.call("GET", "/v1/entitlements/templates")["templates"]
    else:
        found = [t.to_dict() for t in packaged()]
    if as_json:
        print_json({"templates": found})
        return
    table = Table("template", "purpose", "grants")
    for t in found:
        table.add_row(t["name"], t["purpose"], str(len(t["grants"])))
    console.print(table)


@entitlements_app.command("apply-template")
def apply_template(
    agent: str = typer.Argument(..., help="The agent's SPIFFE ID."),
    template: str = typer.Argument(..., help="A packaged template's name, or a YAML file."),
    expires: str | None = typer.Option(None, "--expires", help=EXPIRES_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Grant everything a template lists that the agent does not hold yet."""
    chosen = _template(template)  # a custom file's problems are shown before anything changes
    until = _expiry(expires)
    body: Doc = {"expires_at": until.isoformat() if until else None}
    if chosen.source == PACKAGED:
        body["template"] = chosen.name
    else:
        body["yaml"] = Path(template).read_text(encoding="utf-8")

    async def local(runtime: Any) -> Doc:
        result = await runtime.entitlements.apply_template(
            agent, chosen, actor=CLI_AUTHOR, now=_now(), expires_at=until
        )
        return dict(result.to_dict())

    with connect(url) as backend:
        result = _write(backend, local, "POST", _agent_path(agent) + "/template", json=body)
    if as_json:
        print_json(result)
        return
    granted, held = result["granted"], result["already_held"]
    console.print(
        f"granted {len(granted)} from template [bold]{result['template']}[/] to {agent}",
        highlight=False,
    )
    if granted:
        console.print(grants_table(granted))
    if held:
        console.print(f"already held: {', '.join(_what(g) for g in held)}", highlight=False)


@entitlements_app.command("unused")
def unused(
    days: int = typer.Option(30, "--days", min=1, max=3650, help="The window, in days."),
    apply: bool = typer.Option(False, "--apply", help="Prune what is reported (reversible)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Right-sizing: grants no permitted decision used in the last N days (from the ledger)."""
    with connect(url) as backend:
        report, pruned = _unused(backend, days, apply)
    if as_json:
        print_json({**report, "pruned": pruned} if apply else report)
        return
    _print_report(report)
    if apply:
        _print_pruned(pruned)


@entitlements_app.command("restore")
def restore(
    grant_id: str = typer.Argument(..., help="The pruned entitlement's id."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Bring back a grant that right-sizing pruned."""

    async def local(runtime: Any) -> Doc:
        return _doc(await runtime.entitlements.restore(grant_id, actor=CLI_AUTHOR, now=_now()))

    path = f"/v1/entitlements/{quote(grant_id, safe='')}/restore"
    with connect(url) as backend:
        restored = _write(backend, local, "POST", path)
    if as_json:
        print_json(restored)
        return
    console.print(
        f"restored [bold]{restored['id']}[/]: {_what(restored)} for {restored['agent_id']}",
        highlight=False,
    )


# -- rendering -----------------------------------------------------------------------------------


def print_grants(grants: list[Doc]) -> None:
    """One table per agent, titled with its id (SPIFFE IDs are too long for a column)."""
    by_agent: dict[str, list[Doc]] = {}
    for grant in grants:
        by_agent.setdefault(grant["agent_id"], []).append(grant)
    for agent, held in by_agent.items():
        console.print(grants_table(held, title=agent))


def grants_table(grants: list[Doc], *, title: str | None = None) -> Table:
    """One row per grant: what (and, below it, why), who granted it, until when, its state."""
    table = Table(
        "id", "grant · justification", "granted by", "expires", "state",
        title=title, title_justify="left", title_style="bold",
    )  # fmt: skip
    for column in (0, 3, 4):
        table.columns[column].no_wrap = True
    for g in grants:
        table.add_row(
            g["id"],
            f"{escape(_what(g))}\n[dim]{escape(g['justification'])}[/]",
            g["granted_by"],
            _day(g["expires_at"]) if g["expires_at"] else "-",
            _state(g),
        )
    return table


def template_table(grants: list[Doc]) -> Table:
    table = Table("grant", "justification")
    for g in grants:
        table.add_row(_what(g), g["justification"])
    return table


def _print_report(report: Doc) -> None:
    days, since = report["days"], _day(report["since"])
    found, recent = report["unused"], report["too_recent"]
    if found:
        console.print(
            f"{len(found)} grant(s) with no permitted decision in the last {days} days "
            f"(since {since}):",
            highlight=False,
        )
        print_grants(found)
    elif report["in_use"]:
        console.print(f"every grant older than {days} days was used since {since}")
    else:
        console.print(f"no grant is older than {days} days yet: nothing to judge")
    console.print(
        f"{report['in_use']} in use · {report['decisions_read']} permitted decisions read "
        f"from the ledger since {since}",
        style="dim",
        highlight=False,
    )
    if recent:
        ids = ", ".join(g["id"] for g in recent)
        console.print(
            f"not judged, granted less than {days} days ago: {ids}", style="dim", highlight=False
        )


def _print_pruned(pruned: list[Doc]) -> None:
    if not pruned:
        console.print("nothing to prune")
        return
    console.print(f"pruned {len(pruned)} grant(s); each is audited and can be restored:")
    for g in pruned:
        console.print(f"  warden entitlements restore {g['id']}", highlight=False)


def _what(grant: Mapping[str, Any]) -> str:
    """A tool's name for the usual grant (invoke a Tool), else ``action Type::"id"``."""
    if (grant["action"], grant["resource_type"]) == ("invoke", "Tool"):
        return "every tool" if grant["resource_id"] == "*" else str(grant["resource_id"])
    if grant["resource_id"] == "*":
        return f"{grant['action']} every {grant['resource_type']}"
    return f'{grant["action"]} {grant["resource_type"]}::"{grant["resource_id"]}"'


def _state(grant: Mapping[str, Any]) -> str:
    state = str(grant["state"])
    if state == "active" and grant.get("in_force") is False:
        return "[dim]expired[/]"
    return f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]"


def _day(value: str) -> str:
    return value[:10]


# -- where the work happens ----------------------------------------------------------------------


def _read(
    backend: Backend, local: Callable[[Any], Any], method: str, path: str, **kwargs: Any
) -> Any:
    if isinstance(backend, HttpBackend):
        return backend.call(method, path, **kwargs)
    assert isinstance(backend, LocalBackend)
    return backend.run(local)


def _write(
    backend: Backend, local: Callable[[Any], Any], method: str, path: str, **kwargs: Any
) -> Any:
    if isinstance(backend, HttpBackend):
        return backend.call(method, path, **kwargs)
    assert isinstance(backend, LocalBackend)
    return backend.change(local)


def _unused(backend: Backend, days: int, apply: bool) -> tuple[Doc, list[Doc]]:
    """The report and, with ``apply``, what was pruned: exactly the grants reported."""
    if isinstance(backend, HttpBackend):
        report: Doc = backend.call("GET", "/v1/entitlements/unused", params={"days": days})
        ids = [g["id"] for g in report["unused"]]
        if not apply or not ids:
            return report, []
        body = {"ids": ids, "reason": f"unused for {days} days"}
        return report, backend.call("POST", "/v1/entitlements/prune", json=body)["pruned"]

    async def local(runtime: Any) -> tuple[Doc, list[Doc]]:
        now = _now()
        found = await runtime.entitlements.unused(days, now=now)
        pruned: list[Entitlement] = []
        if apply and found.unused:
            pruned = await runtime.entitlements.prune(
                [g.id for g in found.unused],
                actor=CLI_AUTHOR,
                reason=f"unused for {days} days",
                now=now,
            )
        return found.to_dict(), _docs(pruned)

    assert isinstance(backend, LocalBackend)
    result: tuple[Doc, list[Doc]] = (backend.change if apply else backend.run)(local)
    return result


def _template(name: str) -> Template:
    try:
        if name.endswith((".yaml", ".yml")) or Path(name).is_file():
            return load_file(Path(name))
        return packaged_template(name)
    except TemplateInvalid as exc:
        lines = "\n".join(f"  {p}" for p in exc.problems)
        fail(f"template `{name}` is not valid:\n{lines}")
    except TemplateNotFound as exc:
        fail(exc.message)


def _expiry(text: str | None) -> datetime | None:
    """``90d``/``12h``/``30m`` from now, a date (midnight UTC), or an ISO time with a zone."""
    if text is None:
        return None
    duration = _DURATION.fullmatch(text.strip())
    if duration:
        return _now() + timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"invalid --expires `{text}`: use 90d, 12h, 2027-01-31 or 2027-01-31T09:00:00Z")
    if when.tzinfo is None and len(text.strip()) > 10:
        fail(f"invalid --expires `{text}`: give a time zone, e.g. 2027-01-31T09:00:00Z")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _agent_path(agent_id: str) -> str:
    return f"/v1/agents/{quote(agent_id, safe='/:')}/entitlements"


def _doc(grant: Entitlement) -> Doc:
    return {**grant.to_dict(), "in_force": grant.in_force(_now())}


def _docs(grants: list[Entitlement]) -> list[Doc]:
    return [_doc(g) for g in grants]


def _now() -> datetime:
    return datetime.now(UTC)
