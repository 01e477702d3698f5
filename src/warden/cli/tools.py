"""``warden tools``: register, list and import tools (from an MCP ``tools/list`` result)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from warden.cli.backend import JSON_HELP, URL_HELP, connect, spec_problem
from warden.cli.output import console, fail, print_json
from warden.registry.models import Tool, ToolAnnotations
from warden.registry.specs import AnnotationsSpec, ToolSpec

tools_app = typer.Typer(help="Register, list and import tools.", no_args_is_help=True)

_OPTIONS = {"name": "NAME", "description": "--description", "annotations": "--label"}


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")


@tools_app.command("add")
def add(
    name: str = typer.Argument(..., help="Tool name, e.g. payments.transfer."),
    description: str = typer.Option("", "--description", help="What the tool does."),
    read_only: bool = typer.Option(False, "--read-only", help="The tool changes nothing."),
    destructive: bool = typer.Option(
        True, "--destructive/--non-destructive", help="The tool may destroy or overwrite data."
    ),
    external: bool = typer.Option(
        True, "--external/--internal", help="The tool reaches outside the organisation."
    ),
    labels: list[str] = typer.Option(
        [], "--label", help="A data label the tool handles (repeatable), e.g. pii, finance."
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Register (or update) a tool. Defaults are MCP's: destructive and external."""
    try:
        spec = ToolSpec(
            name=name,
            description=description,
            annotations=AnnotationsSpec(
                read_only=read_only, destructive=destructive, external=external, labels=labels
            ),
        )
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))
    with connect(url) as backend:
        tool = backend.register_tool(spec)
    if as_json:
        print_json(tool.to_dict())
        return
    console.print(
        f"registered [bold]{tool.name}[/] ({annotation_text(tool.annotations)})", highlight=False
    )


@tools_app.command("list")
def list_tools(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List registered tools with their risk annotations."""
    with connect(url) as backend:
        tools = backend.tools()
    if as_json:
        print_json([t.to_dict() for t in tools])
        return
    if not tools:
        console.print("no tools are registered", style="dim")
        return
    console.print(tools_table(tools))


@tools_app.command("import")
def import_tools(
    file: str = typer.Argument(
        ..., metavar="FILE", help="JSON of an MCP tools/list result (bare or JSON-RPC), or `-`."
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Import tools from an MCP tools/list result, mapping MCP's hints to annotations."""
    document = read_json(file)
    with connect(url) as backend:
        tools = backend.import_tools(document)
    if as_json:
        print_json([t.to_dict() for t in tools])
        return
    console.print(f"imported {len(tools)} tool(s) into {backend.where}", highlight=False)
    if tools:
        console.print(tools_table(tools))


def read_json(file: str) -> Any:
    """The JSON in ``file`` (``-``: stdin); a readable error names where it is broken."""
    name = "<stdin>" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text("utf-8")
    except FileNotFoundError:
        fail(f"file `{file}` does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read `{file}`: {getattr(exc, 'strerror', None) or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg.lower()}")


def tools_table(tools: list[Tool]) -> Table:
    table = Table("tool", "risk", "labels", "description")
    for tool in tools:
        table.add_row(
            tool.name,
            annotation_text(tool.annotations),
            ", ".join(sorted(tool.annotations.labels)) or "-",
            tool.description or "-",
        )
    return table


def annotation_text(annotations: ToolAnnotations) -> str:
    """``read-only``, or what the tool may do: ``destructive, external`` (coloured)."""
    if annotations.read_only:
        kinds = ["[green]read-only[/]"]
    else:
        kinds = ["[red]destructive[/]" if annotations.destructive else "writes"]
    kinds.append("[yellow]external[/]" if annotations.external else "internal")
    return ", ".join(kinds)
