"""``warden baseline``: what an agent's behavioural baseline holds; freeze, unfreeze, reset it.

Against a running server (``--url`` / ``WARDEN_URL``) through ``/v1/baselines``, else against
the local store (changes are refused while a server owns it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from warden.behavior.specs import BaselineChange
from warden.cli.backend import (
    CLI_AUTHOR,
    JSON_HELP,
    URL_HELP,
    call_or_run,
    spec_problem,
)
from warden.cli.output import console, fail, print_json

if TYPE_CHECKING:
    from warden.runtime import Runtime

baseline_app = typer.Typer(
    help="Behavioural baselines: how each agent normally acts, what drift is measured against.",
    no_args_is_help=True,
)
AGENT_HELP = "The agent's id (its SPIFFE ID)."
REASON_HELP = "Why, for the audit trail."
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def register(app: typer.Typer) -> None:
    app.add_typer(baseline_app, name="baseline")


@baseline_app.command("show")
def show(
    agent: str = typer.Argument(..., help=AGENT_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """What the agent's baseline holds: warm-up, tools, transitions, hours, ranges."""

    async def work(rt: Runtime) -> Any:
        return rt.behavior.show(agent)

    body = call_or_run(url, "GET", _path(agent), work)
    if as_json:
        print_json(body)
        return
    _print(body)


@baseline_app.command("freeze")
def freeze(
    agent: str = typer.Argument(..., help=AGENT_HELP),
    reason: str = typer.Option("", "--reason", help=REASON_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Stop learning the agent's baseline (drift is still measured against it)."""
    _change(agent, "freeze", reason, url)
    console.print(Text.assemble("froze the baseline of ", (agent, "bold")))


@baseline_app.command("unfreeze")
def unfreeze(
    agent: str = typer.Argument(..., help=AGENT_HELP),
    reason: str = typer.Option("", "--reason", help=REASON_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Learn the agent's baseline again."""
    _change(agent, "unfreeze", reason, url)
    console.print(Text.assemble("the baseline of ", (agent, "bold"), " learns again"))


@baseline_app.command("reset")
def reset(
    agent: str = typer.Argument(..., help=AGENT_HELP),
    reason: str = typer.Option("", "--reason", help=REASON_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Forget everything learned of the agent: it warms up again from nothing."""
    if not yes and not typer.confirm(
        f"forget the baseline of {agent}? drift is not judged until it warms up again"
    ):
        fail("nothing reset")
    _change(agent, "reset", reason, url)
    console.print(Text.assemble("reset the baseline of ", (agent, "bold")))


def _change(agent: str, action: str, reason: str, url: str | None) -> None:
    try:
        spec = BaselineChange(reason=reason)
    except ValidationError as exc:
        fail(spec_problem(exc, {"reason": "--reason"}))

    async def work(rt: Runtime) -> Any:
        run = getattr(rt.behavior, action)
        await run(agent, actor=CLI_AUTHOR, now=datetime.now(UTC), reason=spec.reason)

    call_or_run(url, "POST", _path(agent, action), work, json=spec.model_dump(), change=True)


def _path(agent: str, action: str = "") -> str:
    path = f"/v1/baselines/{quote(agent, safe='/:')}"
    return f"{path}/{action}" if action else path


def _print(b: dict[str, Any]) -> None:
    state = "warm" if b["warm"] else f"warming up ({b['warmup']['actions']:,} actions over "
    state += "" if b["warm"] else f"{b['warmup']['days']:g} days needed)"
    fields = Table(show_header=False, box=None, pad_edge=False)
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    rows = [
        ("agent", b["agent"]),
        ("state", state + (", frozen" if b["frozen"] else "")),
        ("history", f"{b['actions']:,} actions over {b['days']:g} days"),
        ("since", _when(b["first_at"]) + " to " + _when(b["last_at"])),
        ("tools", ", ".join(f"{t['tool']} {t['share']:.0%}" for t in b["tools"]) or "-"),
        ("transitions", "\n".join(_transition(t) for t in b["transitions"]) or "-"),
        ("hours", _hours(b["hours"])),
        ("destinations", _destinations(b["destinations"])),
        ("chain depth", f"at most {b['chain_depth_max']}"),
        ("rate", f"at most {b['rate_per_minute_p99']} actions a minute (99th percentile)"),
        ("arguments", "\n".join(_argument(a) for a in b["arguments"][:10]) or "-"),
    ]
    for label, value in rows:
        fields.add_row(label, Text(value))
    console.print(fields)


def _transition(t: dict[str, Any]) -> str:
    origin = t["from"] or "(session start)"
    return f"{origin} → {t['to']}  {t['count']:,} ({t['share']:.0%})"


def _hours(hours: list[int]) -> str:
    """Busiest hours of the week, and how many are active."""
    active = sum(1 for h in hours if h)
    busiest = sorted(range(len(hours)), key=lambda h: -hours[h])[:3]
    shown = ", ".join(f"{_DAYS[h // 24]} {h % 24:02d}:00" for h in busiest if hours[h])
    return f"{active} of 168 hours of the week active; busiest {shown or '-'} (UTC)"


def _destinations(d: dict[str, Any]) -> str:
    top = ", ".join(x["domain"] for x in d["top"][:5])
    return (
        f"{d['known']:,} domains known ({top or 'none'}); new {d['novelty_rate']:.1%} of the time"
    )


def _argument(a: dict[str, Any]) -> str:
    return (
        f"{a['tool']}.{a['argument']}: {a['min']:,.6g} to {a['max']:,.6g}, "
        f"typically {a['typical']:,.6g} ({a['calls']:,} calls)"
    )


def _when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
