"""``warden connections``: the upstreams Warden's gateways reach and the credentials Warden
holds for them (``add``, ``list``, ``show``, ``remove``, ``rekey``).

Against a running server (``--url`` / ``WARDEN_URL``, with the admin token) through
``/v1/connections``, or on the local store; ``add --upstream`` is the upstream's URL. A
secret is read from an environment variable (``--secret-env VAR``) or from standard input
(``--secret-stdin``), never from an argument:
arguments land in shell history and in ``ps`` for every user of the machine to read. Nothing
prints a secret back; a connection shows only whether it has one and which key encrypts it.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError
from rich import box
from rich.table import Table

from warden.cli.backend import CLI_AUTHOR, JSON_HELP, URL_HELP, call_or_run, spec_problem
from warden.cli.output import console, fail, print_json
from warden.gateway.connections.models import AuthKind, Protocol
from warden.gateway.connections.spec import NewConnection

if TYPE_CHECKING:
    from warden.runtime import Runtime

connections_app = typer.Typer(
    help="Connections: the upstreams the gateways reach, and their credentials (kept by Warden).",
    no_args_is_help=True,
)
NAME_HELP = "The connection's name: /egress/<name>/… or /mcp/<name>."
ROUTE_HELP = (
    "An HTTP route and the tool a call to it is: 'GET /invoices/{id} erp.invoice.read' "
    "({x} one segment, {x:path} the rest; method * for any). Repeatable."
)
# The command-line option behind each field of the spec, for error messages.
_OPTIONS = {
    "name": "NAME",
    "url": "--upstream",
    "protocol": "--protocol",
    "auth": "--auth",
    "routes": "--route",
    "tool_prefix": "--tool-prefix",
    "limits": "--timeout/--max-request-bytes/--max-response-bytes",
    "description": "--description",
    "params": "--param",
}


def register(app: typer.Typer) -> None:
    app.add_typer(connections_app, name="connections")


@connections_app.command("add")
def add(
    name: str = typer.Argument(..., help=NAME_HELP),
    upstream: str = typer.Option(
        ..., "--upstream", help="The upstream's base URL (http) or MCP endpoint (mcp)."
    ),
    protocol: Protocol = typer.Option(Protocol.HTTP, "--protocol", help="http or mcp."),
    auth: AuthKind = typer.Option(AuthKind.NONE, "--auth", help="How Warden authenticates."),
    header: str | None = typer.Option(
        None, "--header", help="api_key: the header (Authorization)."
    ),
    prefix: str | None = typer.Option(
        None, "--prefix", help="api_key: before the key ('Bearer ')."
    ),
    username: str | None = typer.Option(None, "--username", help="basic: the user name."),
    token_url: str | None = typer.Option(None, "--token-url", help="oauth_*: the token endpoint."),
    client_id: str | None = typer.Option(None, "--client-id", help="oauth_*: Warden's client id."),
    scope: str | None = typer.Option(None, "--scope", help="oauth_*: the scope to ask for."),
    params: list[str] = typer.Option([], "--param", help="Any other parameter, KEY=VALUE."),
    secret_env: str | None = typer.Option(
        None, "--secret-env", metavar="VAR", help="Read the secret from this environment variable."
    ),
    secret_stdin: bool = typer.Option(False, "--secret-stdin", help="Read the secret from stdin."),
    routes: list[str] = typer.Option([], "--route", help=ROUTE_HELP),
    tool_prefix: str | None = typer.Option(
        None, "--tool-prefix", help="mcp: Warden's tool id = prefix + tool name (`<name>.`)."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds to connect, per read."),
    max_request_bytes: int | None = typer.Option(None, "--max-request-bytes"),
    max_response_bytes: int | None = typer.Option(None, "--max-response-bytes"),
    description: str = typer.Option("", "--description", help="What it is, for people."),
    replace: bool = typer.Option(
        False, "--replace", help="Replace an existing connection (no secret option: keep its)."
    ),
    server: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a connection (or, with --replace, replace one)."""
    named = {"header": header, "prefix": prefix, "username": username,
             "token_url": token_url, "client_id": client_id, "scope": scope}  # fmt: skip
    limits = {"timeout": timeout, "max_request_bytes": max_request_bytes,
              "max_response_bytes": max_response_bytes}  # fmt: skip
    body: dict[str, Any] = {
        "name": name,
        "protocol": protocol.value,
        "url": upstream,
        "auth": auth.value,
        "params": {**_params(params), **{k: v for k, v in named.items() if v is not None}},
        "routes": [_route(r) for r in routes],
        "tool_prefix": tool_prefix,
        "limits": {k: v for k, v in limits.items() if v is not None},
        "description": description,
    }
    secret = _secret(secret_env, secret_stdin)
    if secret is not None:
        body["secret"] = secret
    try:
        spec = NewConnection.model_validate(body)  # the server's checks, before sending
    except ValidationError as exc:
        fail(spec_problem(exc, _OPTIONS))

    async def work(rt: Runtime) -> Any:
        connection, plain, now = spec.connection(), spec.plain_secret(), datetime.now(UTC)
        if replace:
            done = await rt.connections.update(connection, plain, actor=CLI_AUTHOR, now=now)
        else:
            done = await rt.connections.create(connection, plain, actor=CLI_AUTHOR, now=now)
        return done.to_dict()

    if replace:
        del body["name"]
        shown = call_or_run(server, "PUT", _path(name), work, change=True, json=body)
    else:
        shown = call_or_run(server, "POST", "/v1/connections", work, change=True, json=body)
    if as_json:
        print_json(shown)
        return
    verb = "replaced" if replace else "added"
    console.print(f"{verb} connection {shown['name']}", style="bold green")
    _describe(shown)


@connections_app.command("list")
def list_connections(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Every connection (never a secret: only which key encrypts it)."""

    async def work(rt: Runtime) -> Any:
        return {"connections": [c.to_dict() for c in rt.connections.list()]}

    body = call_or_run(url, "GET", "/v1/connections", work)
    if as_json:
        print_json(body)
        return
    if not body["connections"]:
        console.print("no connections", style="dim")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("name", "protocol", "upstream", "auth", "tools", "secret"):
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "protocol"))
    for c in body["connections"]:
        table.add_row(c["name"], c["protocol"], c["url"], c["auth"], _tools(c), _secret_state(c))
    console.print(table)


@connections_app.command("show")
def show(
    name: str = typer.Argument(..., help=NAME_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One connection: its upstream, authentication, routes and limits."""

    async def work(rt: Runtime) -> Any:
        return (await rt.connections.get(name)).to_dict()

    body = call_or_run(url, "GET", _path(name), work)
    if as_json:
        print_json(body)
        return
    console.print(body["name"], style="bold")
    _describe(body)


@connections_app.command("remove")
def remove(
    name: str = typer.Argument(..., help=NAME_HELP),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Remove a connection and its secret: its gateway path stops answering."""

    async def work(rt: Runtime) -> Any:
        await rt.connections.delete(name, actor=CLI_AUTHOR)
        return {"deleted": name}

    call_or_run(url, "DELETE", _path(name), work, change=True)
    console.print(f"removed connection {name}", style="bold")


@connections_app.command("rekey")
def rekey(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-encrypt every secret under the first key of WARDEN_SECRET_KEYS. To rotate: put a new
    key in front, restart, rekey, then drop the old key."""

    async def work(rt: Runtime) -> Any:
        done = await rt.connections.rekey(actor=CLI_AUTHOR, now=datetime.now(UTC))
        return {"rekeyed": done, "key_id": rt.connections.box.key_id}

    body = call_or_run(url, "POST", "/v1/connections/rekey", work, change=True)
    if as_json:
        print_json(body)
        return
    if body["rekeyed"]:
        names = ", ".join(body["rekeyed"])
        console.print(f"re-encrypted under key {body['key_id']}: {names}", style="bold green")
    else:
        console.print(f"every secret is already under key {body['key_id']}")


# -- helpers -------------------------------------------------------------------------------------


def _path(name: str) -> str:
    from urllib.parse import quote

    return f"/v1/connections/{quote(name, safe='')}"


def _secret(env: str | None, stdin: bool) -> str | None:
    """The secret from ``$env`` or standard input (its trailing newline dropped)."""
    if env and stdin:
        fail("give the secret one way: --secret-env or --secret-stdin")
    if env:
        value = os.environ.get(env)
        if not value:
            fail(f"the environment variable `{env}` (--secret-env) is not set")
        return value
    if stdin:
        value = sys.stdin.read().rstrip("\r\n")
        if not value:
            fail("nothing was read from standard input (--secret-stdin)")
        return value
    return None


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--param `{pair}` is not KEY=VALUE")
        params[key] = value
    return params


def _route(text: str) -> dict[str, str]:
    parts = text.split()
    if len(parts) != 3:
        fail(f"--route `{text}` is not 'METHOD /template tool' (e.g. 'GET /invoices/{{id}} erp.x')")
    method, template, tool = parts
    return {"method": method.upper(), "template": template, "tool": tool}


def _tools(c: dict[str, Any]) -> str:
    if c["protocol"] == Protocol.MCP.value:
        return f"{c['tool_prefix']}*"
    return ", ".join(sorted({r["tool"] for r in c["routes"]}))


def _secret_state(c: dict[str, Any]) -> str:
    return f"key {c['key_id']}" if c["has_secret"] else "-"


def _describe(c: dict[str, Any]) -> None:
    params = ", ".join(f"{k}={v}" for k, v in sorted(c["params"].items())) or "-"
    limits = c["limits"]
    lines = [
        ("protocol", c["protocol"]),
        ("upstream", c["url"]),
        ("auth", c["auth"]),
        ("params", params),
        ("secret", "held, encrypted under " + _secret_state(c) if c["has_secret"] else "none"),
        (
            "limits",
            f"timeout {limits['timeout']:g} s, request ≤ {limits['max_request_bytes']} B,"
            f" response ≤ {limits['max_response_bytes']} B",
        ),
    ]
    if c["protocol"] == Protocol.MCP.value:
        lines.append(("tools", f"{c['tool_prefix']}<upstream tool>"))
    if c["description"]:
        lines.append(("description", c["description"]))
    for label, value in lines:
        console.print(f"  {label:<12}{value}", highlight=False, soft_wrap=True)
    if c["routes"]:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in ("method", "template", "tool"):
            table.add_column(column, overflow="fold")
        for r in c["routes"]:
            table.add_row(r["method"], r["template"], r["tool"])
        console.print(table)
