"""``warden access``: bearer tokens for the people who use Warden's API, SCIM and CLI.

    warden access grant --person ana@acme.example --role owner
    warden access list
    warden access revoke <token id>

The token is printed once; Warden keeps only its SHA-256. Roles: ``admin`` (everything),
``auditor`` (read-only, ledger included), ``approver`` (step-up approvals), ``owner``
(manages only the agents they own).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from warden.access.models import Role
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

access_app = typer.Typer(
    help="Bearer tokens and roles for people using Warden's API.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(access_app, name="access")


@access_app.command("grant")
def grant(
    person: str = typer.Option(..., "--person", help="The person's email."),
    roles: list[Role] = typer.Option(..., "--role", help="A role (repeatable)."),
    description: str = typer.Option("", "--description", help="What the token is for."),
    expires: datetime | None = typer.Option(
        None, "--expires", help="Stop working after this UTC time.", formats=["%Y-%m-%d"]
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Issue a token for a person with the given roles (printed once, never again)."""
    from warden.access.api import TokenRequest

    try:
        request = TokenRequest(
            person=person,
            roles=roles,
            description=description,
            expires_at=expires.replace(tzinfo=UTC) if expires else None,
        )
    except ValidationError as exc:
        fail(spec_problem(exc, {"person": "--person", "roles": "--role"}))
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            issued = backend.call("POST", "/v1/access/tokens", json=request.model_dump(mode="json"))
        else:
            assert isinstance(backend, LocalBackend)
            issued = _local_issue(backend, request)
    if as_json:
        print_json(issued)
        return
    roles_text = ", ".join(issued["roles"])
    console.print(f"token [bold]{issued['id']}[/] for {issued['person']} ({roles_text}):")
    console.print(issued["token"], highlight=False, soft_wrap=True)
    console.print("shown once: store it now (e.g. WARDEN_TOKEN=...)", style="dim")


def _local_issue(backend: LocalBackend, request: Any) -> dict[str, Any]:
    async def work(runtime: Any) -> dict[str, Any]:
        record, secret = await runtime.access.issue(
            request.person,
            request.roles,
            actor=CLI_AUTHOR,
            now=datetime.now(UTC),
            description=request.description,
            expires_at=request.expires_at,
        )
        return {**record.to_dict(), "token": secret}

    result: dict[str, Any] = backend.change(work)
    return result


@access_app.command("list")
def list_tokens(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Issued tokens: who, which roles, whether still valid (never the secrets)."""
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            tokens = backend.call("GET", "/v1/access/tokens")["tokens"]
        else:
            assert isinstance(backend, LocalBackend)
            tokens = backend.run(_local_tokens)
    if as_json:
        print_json({"tokens": tokens})
        return
    if not tokens:
        console.print("no access tokens issued", style="dim")
        return
    described = any(t["description"] for t in tokens)
    table = Table("id", "person", "roles", "created", "expires", "state")
    table.columns[1].no_wrap = True
    if described:
        table.add_column("description")
    for t in tokens:
        row = [
            t["id"],
            t["person"],
            ", ".join(t["roles"]),
            t["created_at"][:10],
            (t["expires_at"] or "-")[:10],
            "revoked" if t["revoked_at"] else "active",
        ]
        table.add_row(*row, *([t["description"]] if described else []))
    console.print(table)


async def _local_tokens(runtime: Any) -> list[dict[str, Any]]:
    return [t.to_dict() for t in await runtime.access.tokens()]


@access_app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., help="The token's id (from `warden access list`)."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Revoke a token: its next request is refused."""
    with connect(url) as backend:
        if isinstance(backend, HttpBackend):
            backend.call("DELETE", f"/v1/access/tokens/{token_id}")
        else:
            assert isinstance(backend, LocalBackend)

            async def work(runtime: Any) -> None:
                await runtime.access.revoke(token_id, actor=CLI_AUTHOR, now=datetime.now(UTC))

            backend.change(work)
    console.print(f"revoked token {token_id}")
