"""``warden audit``: verify the hash-chained ledger and follow its newest entries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.text import Text

from warden.audit.format import format_entry
from warden.audit.models import LedgerEntry, VerifyReport
from warden.cli.backend import JSON_HELP, URL_HELP, Backend, connect
from warden.cli.output import console, err_console, print_json

audit_app = typer.Typer(help="Verify and read the audit ledger.", no_args_is_help=True)

POLL_SECONDS = 0.5
_FOLLOW_BATCH = 500
_EVENT_STYLE = {
    "decision:allow": "green",
    "decision:deny": "red",
    "decision:step_up": "yellow",
    "agent:sighting:unknown": "magenta",
}


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check the ledger's hash chain end to end; exit 1 if it was tampered with."""
    with connect(url) as backend, _progress(backend, show=not as_json) as progress:
        report = backend.verify_ledger(progress)
    if as_json:
        print_json(report_dict(report))
    elif report.ok:
        console.print(f"[bold green]OK[/]: {report.detail}", highlight=False, soft_wrap=True)
    else:
        where = f"entry {report.first_bad_seq} ({report.problem})"
        console.print(f"[bold red]BROKEN[/] at {where}: {report.detail}", highlight=False)
        console.print(
            f"{report.entries_checked} entries before it are intact", style="dim", highlight=False
        )
    if not report.ok:
        raise typer.Exit(1)


@contextmanager
def _progress(backend: Backend, *, show: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal, for ledgers the backend can count; else nothing."""
    total = backend.ledger_size() if show and err_console.is_terminal else None
    if not total:
        yield None
        return
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("verify", total=total)
        yield lambda done: bar.update(task, completed=done)


@audit_app.command("tail")
def tail(
    lines: int = typer.Option(20, "-n", "--lines", min=0, help="How many recent entries to show."),
    follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new entries."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print entries as JSON (one object per line with --follow)."
    ),
) -> None:
    """Show the newest ledger entries, one readable line each; -f follows until Ctrl-C."""
    with connect(url) as backend:
        entries = backend.entries(last=lines) if lines else []
        if as_json and not follow:
            print_json([entry_json(e) for e in entries])
            return
        show = _json_line if as_json else _line
        for entry in entries:
            show(entry)
        if follow:
            after = entries[-1].seq if entries else _head_seq(backend)
            _follow(backend, after, show)


def _follow(backend: Backend, after: int, show: Callable[[LedgerEntry], None]) -> None:
    """Poll for entries after seq ``after`` every ``POLL_SECONDS`` until Ctrl-C."""
    try:
        while True:
            batch = backend.entries(last=_FOLLOW_BATCH, after=after)
            for entry in batch:
                show(entry)
            if batch:
                after = batch[-1].seq
            if len(batch) < _FOLLOW_BATCH:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return


def _head_seq(backend: Backend) -> int:
    last = backend.entries(last=1)
    return last[-1].seq if last else 0


def _line(entry: LedgerEntry) -> None:
    style = _EVENT_STYLE.get(str(entry.event_type), "")
    console.print(Text(format_entry(entry), style=style), soft_wrap=True)


def _json_line(entry: LedgerEntry) -> None:
    import orjson

    typer.echo(orjson.dumps(entry_json(entry)).decode())


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return entry.to_dict()


def report_dict(report: VerifyReport) -> dict[str, Any]:
    return report.to_dict()
