"""``warden reviews``: access review campaigns — open, follow, decide, close.

    warden reviews open --name "Q1 finance" --team finance --deadline 14d --on-deadline revoke
    warden reviews list
    warden reviews show <campaign>
    warden reviews items <campaign> --reviewer ann@acme.example --state pending
    warden reviews certify <campaign> <item> [--comment ...]
    warden reviews revoke <campaign> <item> [--comment ...]
    warden reviews close <campaign>

Against a server (``--url`` / ``WARDEN_URL``) with ``WARDEN_TOKEN`` — an owner decides with
their own token — else against the local store, as an admin (``warden cli``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from warden.access.models import Principal, Role
from warden.cli.backend import (
    CLI_AUTHOR,
    JSON_HELP,
    URL_HELP,
    HttpBackend,
    LocalBackend,
    connect,
    spec_problem,
)
from warden.cli.output import console, fail, print_json
from warden.registry.models import RiskTier
from warden.reviews.models import CampaignState, Consequence, ItemState, Verdict
from warden.reviews.specs import CampaignSpec

if TYPE_CHECKING:
    from warden.reviews.service import ReviewService

reviews_app = typer.Typer(
    help="Access reviews: owners recertify what their agents may do.", no_args_is_help=True
)

_OPTIONS = {"name": "--name", "scope": "--team/--owner/--risk-tier", "deadline": "--deadline"}
_RELATIVE = re.compile(r"(\d{1,4})d")
_STATE_STYLE = {
    "pending": "yellow",
    "certified": "green",
    "revoked": "red",
    "expired": "magenta",
    "open": "green",
    "closing": "yellow",
    "closed": "dim",
}
_EFFECTS = {"entitlement_revoked": "grant revoked", "agent_suspended": "agent suspended"}
_LOCAL = Principal(CLI_AUTHOR, frozenset({Role.ADMIN}))

CampaignArg = typer.Argument(..., help="The campaign's id (from `warden reviews list`).")


def register(app: typer.Typer) -> None:
    app.add_typer(reviews_app, name="reviews")


@reviews_app.command("open")
def open_campaign(
    name: str = typer.Option(..., "--name", help="What the campaign is, e.g. 'Q1 finance'."),
    team: str | None = typer.Option(None, "--team", help="Review this team's agents."),
    owner: str | None = typer.Option(None, "--owner", help="Review this person's agents."),
    risk_tier: RiskTier | None = typer.Option(None, "--risk-tier", help="Review this tier."),
    deadline: str = typer.Option(
        ..., "--deadline", help="'14d' from now, or a time with zone: 2027-01-31T00:00:00Z."
    ),
    on_deadline: Consequence = typer.Option(
        ..., "--on-deadline", help="For items nobody decided: revoke the grant, or suspend."
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Open a campaign over every agent, or one team's, owner's or risk tier's (admin)."""
    scopes = {"team": team, "owner": owner, "risk_tier": risk_tier}
    given = {k: v for k, v in scopes.items() if v is not None}
    if len(given) > 1:
        fail("give at most one of --team, --owner, --risk-tier")
    kind, value = next(iter(given.items()), ("all", None))
    try:
        spec = CampaignSpec.model_validate(
            {
                "name": name,
                "scope": {"kind": kind, "value": value},
                "deadline": _deadline(deadline),
                "on_deadline": on_deadline,
            }
        )
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    report = _do(
        url,
        ("POST", "/v1/reviews", {"json": spec.model_dump(mode="json")}),
        lambda reviews: reviews.open(spec, actor=CLI_AUTHOR, now=_now()),
        writes=True,
    )
    if as_json:
        print_json(report)
        return
    progress = report["progress"]
    console.print(
        f"opened [bold]{report['id']}[/] ({report['name']}): {progress['total']} items "
        f"for {len(progress['reviewers'])} reviewers, deadline {_at(report['deadline'])}, "
        f"then {_consequence(report['on_deadline'])}",
        highlight=False,
        soft_wrap=True,
    )


@reviews_app.command("list")
def list_campaigns(
    state: CampaignState | None = typer.Option(None, "--state", help="Only this state."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Campaigns, newest first, with their progress."""
    params = {"state": state.value} if state else {}
    body = _do(
        url,
        ("GET", "/v1/reviews", {"params": params}),
        lambda reviews: _campaigns(reviews, state),
    )
    if as_json:
        print_json(body)
        return
    if not body["campaigns"]:
        console.print("no access reviews", style="dim")
        return
    table = Table("id", "name", "scope", "deadline", "state", "decided")
    for column in table.columns:  # names and scopes wrap; ids, dates and figures do not
        column.no_wrap = column.header not in ("name", "scope")
        column.overflow = "fold"
    for c in body["campaigns"]:
        table.add_row(
            c["id"],
            c["name"],
            _scope(c["scope"]),
            _at(c["deadline"])[:10],
            _styled(c["state"]),
            _done(c["progress"]),
        )
    console.print(table)


@reviews_app.command("show")
def show(
    campaign: str = CampaignArg,
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One campaign: its progress, and what each reviewer still has to decide."""
    report = _do(
        url, ("GET", f"/v1/reviews/{_path(campaign)}", {}), lambda reviews: reviews.report(campaign)
    )
    if as_json:
        print_json(report)
        return
    _print_report(report)


@reviews_app.command("items")
def items(
    campaign: str = CampaignArg,
    reviewer: str | None = typer.Option(None, "--reviewer", help="Only this reviewer's items."),
    state: ItemState | None = typer.Option(None, "--state", help="Only items in this state."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A campaign's items: what is reviewed, by whom, and how it was decided."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if reviewer:
        params["reviewer"] = reviewer
    if state:
        params["state"] = state.value
    page = _do(
        url,
        ("GET", f"/v1/reviews/{_path(campaign)}/items", {"params": params}),
        lambda reviews: reviews.items(
            campaign, reviewer=reviewer, state=state, limit=limit, offset=offset
        ),
    )
    if as_json:
        print_json(page)
        return
    if not page["items"]:
        console.print("no items match", style="dim")
        return
    console.print(_items_table(page["items"]))
    shown = page["offset"] + len(page["items"])
    if page["next_offset"] is not None:
        console.print(f"{shown} of {page['total']}; more with --offset {shown}", style="dim")


@reviews_app.command("certify")
def certify(
    campaign: str = CampaignArg,
    item: int = typer.Argument(..., help="The item's number (from `warden reviews items`)."),
    comment: str | None = typer.Option(None, "--comment", help="Why, for the record."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Recertify an item: it is still needed."""
    _decide(url, campaign, item, Verdict.CERTIFY, comment, as_json)


@reviews_app.command("revoke")
def revoke(
    campaign: str = CampaignArg,
    item: int = typer.Argument(..., help="The item's number (from `warden reviews items`)."),
    comment: str | None = typer.Option(None, "--comment", help="Why, for the record."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Revoke an item now: its entitlement is revoked (an agent item: the agent suspended)."""
    _decide(url, campaign, item, Verdict.REVOKE, comment, as_json)


@reviews_app.command("close")
def close(
    campaign: str = CampaignArg,
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Close a campaign now: undecided items get its consequence (admin)."""
    report = _do(
        url,
        ("POST", f"/v1/reviews/{_path(campaign)}/close", {}),
        lambda reviews: reviews.close(campaign, actor=CLI_AUTHOR, now=_now()),
        writes=True,
    )
    if as_json:
        print_json(report)
        return
    expired = report["progress"]["expired"]
    console.print(
        f"closed [bold]{report['id']}[/]: {expired} undecided "
        f"item{'s' if expired != 1 else ''} got the consequence",
        highlight=False,
        soft_wrap=True,
    )
    _print_report(report)


# -- doing the work here or on a server ------------------------------------------------------

Request = tuple[str, str, dict[str, Any]]


def _do(
    url: str | None,
    request: Request,
    work: Callable[[ReviewService], Awaitable[Any]],
    *,
    writes: bool = False,
) -> Any:
    """The server's answer to ``request``, or ``work`` done on the local store — as JSON."""
    method, path, options = request
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            return backend.call(method, path, **options)
        assert isinstance(backend, LocalBackend)

        async def local(runtime: Any) -> Any:
            result = await work(runtime.reviews)
            return result.to_dict() if hasattr(result, "to_dict") else result

        return backend.change(local) if writes else backend.run(local)


async def _campaigns(reviews: ReviewService, state: CampaignState | None) -> dict[str, Any]:
    return {"campaigns": [r.to_dict() for r in await reviews.campaigns(state)]}


def _decide(
    url: str | None,
    campaign: str,
    number: int,
    verdict: Verdict,
    comment: str | None,
    as_json: bool,
) -> None:
    if comment is not None and len(comment) > 1000:
        fail("--comment takes at most 1000 characters")
    body = {"decision": verdict.value, "comment": comment}
    item = _do(
        url,
        ("POST", f"/v1/reviews/{_path(campaign)}/items/{number}/decision", {"json": body}),
        lambda reviews: reviews.decide(
            campaign, number, verdict, by=_LOCAL, comment=comment, now=_now()
        ),
        writes=True,
    )
    if as_json:
        print_json(item)
        return
    effect = {
        "entitlement_revoked": "; the entitlement is revoked",
        "agent_suspended": "; the agent is suspended",
    }.get(item["effect"] or "", "")
    console.print(
        f"item {item['number']} {_styled(item['state'])} by {item['decided_by']}{effect}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"{_what(item)} of {item['agent_id']}", style="dim", highlight=False)


# -- rendering -------------------------------------------------------------------------------


def _print_report(report: dict[str, Any]) -> None:
    fields = Table(show_header=False, box=None, pad_edge=False)
    fields.add_column(style="bold")
    fields.add_column()
    closed = f"{_at(report['closed_at'])} by {report['closed_by']}" if report["closed_at"] else ""
    for label, value in (
        ("id", report["id"]),
        ("name", report["name"]),
        ("scope", _scope(report["scope"])),
        ("state", _styled(report["state"])),
        ("opened", f"{_at(report['opened_at'])} by {report['opened_by']}"),
        ("deadline", _at(report["deadline"])),
        ("on deadline", _consequence(report["on_deadline"])),
        ("closed", closed),
    ):
        if value:
            fields.add_row(label, value)
    console.print(fields, highlight=False)
    progress = report["progress"]
    line = Table.grid(padding=(0, 1))
    line.add_row(_bar(progress, width=40), _done(progress))
    console.print(line, highlight=False)
    console.print(_counts(progress), highlight=False)
    waiting = {k: v for k, v in progress["reviewers"].items() if v["pending"]}
    if waiting:
        table = Table("reviewer", "pending", "of")
        for who, counts in sorted(waiting.items(), key=lambda kv: -kv[1]["pending"]):
            table.add_row(who, str(counts["pending"]), str(counts["total"]))
        console.print(table)


def _items_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("#", "agent / entitlement", "reviewers", "decision", "effect")
    for column in table.columns:
        column.overflow = "fold"
    for item in rows:
        by = f"\n[dim]by {item['decided_by']}[/]" if item["decided_by"] else ""
        table.add_row(
            str(item["number"]),
            f"{item['agent_name']}\n[dim]{_what(item)}[/]",
            "\n".join(item["reviewers"]),
            _styled(item["state"]) + by,
            _EFFECTS.get(item["effect"] or "", ""),
        )
    return table


def _bar(progress: dict[str, Any], *, width: int) -> Text:
    """A bar in segments — certified, revoked, expired, then pending — readable in colour
    and as plain text (pending is drawn thin)."""
    total = max(progress["total"], 1)
    bar = Text()
    counted = drawn = 0
    for key, style in (("certified", "green"), ("revoked", "red"), ("expired", "magenta")):
        counted += progress[key]
        cells = round(width * counted / total) - drawn  # cumulative: never past ``width``
        bar.append("━" * cells, style=style)
        drawn += cells
    bar.append("─" * (width - drawn), style="dim")
    return bar


def _done(progress: dict[str, Any]) -> str:
    total, pending = progress["total"], progress["pending"]
    share = 100 * (total - pending) // total if total else 100
    return f"{total - pending}/{total} ({share}%)"


def _counts(progress: dict[str, Any]) -> str:
    return (
        f"[green]{progress['certified']} certified[/], [red]{progress['revoked']} revoked[/], "
        f"[yellow]{progress['pending']} pending[/], "
        f"[magenta]{progress['expired']} expired[/] (consequence applied)"
    )


def _what(item: dict[str, Any]) -> str:
    grant = item["entitlement"]
    if grant is None:
        return "(the agent itself)"
    if grant["resource_type"] == "Tool":  # the common case reads best bare
        return f"{grant['action']} {grant['resource_id']}"
    return f"{grant['action']} {grant['resource_type']}::{grant['resource_id']}"


def _scope(scope: dict[str, Any]) -> str:
    if scope["kind"] == "all":
        return "all agents"
    return f"{scope['kind'].replace('_', ' ')} {scope['value']}"


def _consequence(value: str) -> str:
    if value == "revoke":
        return "revoke the entitlements of undecided items"
    return "suspend the agents of undecided items"


def _styled(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]"


def _at(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _deadline(text: str) -> datetime | str:
    """``14d`` → 14 days from now; otherwise the text, for the spec to validate."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        return _now() + timedelta(days=int(relative.group(1)))
    return text


def _now() -> datetime:
    return datetime.now(UTC)


def _path(campaign: str) -> str:
    return quote(campaign, safe="")
