"""``warden profiles``: the purpose profiles mandates are judged against.

    warden profiles list
    warden profiles show invoice-payment [--version 2]
    warden profiles validate my-profile.yaml
    warden profiles apply my-profile.yaml

Against a running server (``--url`` / ``WARDEN_URL``, ``WARDEN_TOKEN``) through
``/v1/profiles``, else against the local store. ``validate`` needs neither: it checks the file
against the published schema here, every problem as ``file:line:column``.
"""

from __future__ import annotations

from collections.abc import Callable
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
from warden.mandates.profiles.errors import ProfileInvalid, ProfileNotFound
from warden.mandates.profiles.loader import load_file
from warden.mandates.profiles.profile import PurposeProfile

profiles_app = typer.Typer(
    help="Purpose profiles: what a mandate for each purpose may do.", no_args_is_help=True
)

Doc = dict[str, Any]


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")


@profiles_app.command("list")
def list_profiles(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The active profiles: the newest version of each."""
    from warden.mandates.profiles.api import profile_dict

    async def local(runtime: Any) -> Doc:
        service = runtime.profiles
        return {"profiles": [profile_dict(p, service.record(p.name)) for p in service.active()]}

    with connect(url) as backend:
        found: list[Doc] = _call(backend, local, "GET", "/v1/profiles")["profiles"]
    if as_json:
        print_json({"profiles": found})
        return
    table = Table("profile", "version", "tools", "budgets", "max hops", "applied by")
    table.columns[0].no_wrap = True
    for doc in found:
        budgets = ", ".join(_budget_text(b) for b in doc.get("budgets", ())) or "-"
        hops = doc.get("max_chain_depth")
        table.add_row(
            doc["name"],
            str(doc["version"]),
            str(len(doc["tools"])),
            budgets,
            "-" if hops is None else str(hops),
            escape(doc.get("author", "")),
        )
    console.print(table)


@profiles_app.command("show")
def show(
    name: str = typer.Argument(..., help="The profile's name."),
    version: int | None = typer.Option(None, "--version", min=1, help="An older version."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One profile: who applied it and when, and its YAML."""
    from warden.mandates.profiles.api import profile_dict

    async def local(runtime: Any) -> Doc:
        profile = await runtime.profiles.get(name, version)
        record = await runtime.profiles.text(name, profile.version)
        return {**profile_dict(profile, record), "yaml": record.yaml}

    params = {"version": version} if version is not None else {}
    with connect(url) as backend:
        doc: Doc = _call(backend, local, "GET", f"/v1/profiles/{quote(name)}", params=params)
    if as_json:
        print_json(doc)
        return
    console.print(
        f"[bold]{doc['name']}[/] version {doc['version']}, applied by {escape(doc['author'])} "
        f"at {doc['created_at'][:19]}Z",
        highlight=False,
    )
    console.print(escape(doc["yaml"].rstrip()), highlight=False, soft_wrap=True)


@profiles_app.command("validate")
def validate(file: Path = typer.Argument(..., help="A profile YAML file.")) -> None:
    """Check a profile file against the published schema; every problem with its line."""
    profile = _load(file)
    console.print(f"[green]valid[/]: {_summary(profile)}", highlight=False)


@profiles_app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="A profile YAML file."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Store a profile as its next version (audited); unchanged text changes nothing."""
    from warden.mandates.profiles.api import profile_dict

    _load(file)  # its problems, by line, before anything is sent
    text = file.read_text(encoding="utf-8")

    async def local(runtime: Any) -> Doc:
        from datetime import UTC, datetime

        profile = await runtime.profiles.apply(
            text, actor=CLI_AUTHOR, now=datetime.now(UTC), source=str(file)
        )
        return profile_dict(profile, runtime.profiles.record(profile.name))

    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            headers = {"Content-Type": "application/yaml"}
            doc: Doc = backend.call("POST", "/v1/profiles", content=text.encode(), headers=headers)
        else:
            assert isinstance(backend, LocalBackend)
            doc = backend.change(local)
    if as_json:
        print_json(doc)
        return
    console.print(
        f"profile [bold]{doc['name']}[/] is at version {doc['version']} "
        f"(applied by {escape(doc['author'])})",
        highlight=False,
    )


def _call(
    backend: Backend, local: Callable[[Any], Any], method: str, path: str, **kwargs: Any
) -> Any:
    if isinstance(backend, HttpBackend):
        return backend.call(method, path, **kwargs)
    assert isinstance(backend, LocalBackend)
    return backend.run(local)


def _load(file: Path) -> PurposeProfile:
    try:
        return load_file(file)
    except ProfileInvalid as exc:
        lines = "\n".join(f"  {escape(str(p))}" for p in exc.problems)
        fail(f"profile `{escape(str(file))}` is not valid:\n{lines}")
    except ProfileNotFound as exc:
        fail(escape(exc.message))


def _summary(profile: PurposeProfile) -> str:
    counts = (
        (len(profile.tools), "tool"),
        (len(profile.budgets), "budget"),
        (len(profile.flows), "flow rule"),
        (len(profile.step_up_rules), "step-up rule"),
    )
    parts = ", ".join(f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts)
    return f"{profile.name} ({parts})"


def _budget_text(budget: Doc) -> str:
    unit = f" {budget['currency']}" if budget.get("currency") else ""
    return f"{budget['name']} ≤ {budget['limit']:,}{unit}"
