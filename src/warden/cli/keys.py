"""``warden keys``: list and rotate the OAuth token signing keys.

Against a running server (``--url`` / ``WARDEN_URL``, admin token) through ``/v1/keys``, else
against the local store (refused while a server owns it: its cached key ring would not see
the change). Only public facts are shown: kid, algorithm, dates; never a private key.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import httpx
import typer
from rich.table import Table

from warden.cli.backend import (
    JSON_HELP,
    URL_HELP,
    BackendError,
    LocalBackend,
    client_token,
    connect,
)
from warden.cli.output import console, fail, print_json

keys_app = typer.Typer(help="List and rotate the token signing keys.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


@keys_app.command("list")
def list_keys(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The signing key and the retired keys still published in the JWKS."""
    keys = _remote(url, "GET", "/v1/keys")["keys"] if _server(url) else _local_keys(rotate=False)
    if as_json:
        print_json({"keys": keys})
        return
    table = Table("kid", "alg", "created", "signing", "published until")
    for key in keys:
        until = key["publish_until"] or ("-" if key["signing"] else "")
        table.add_row(key["kid"], key["alg"], key["created_at"], str(key["signing"]), until)
    console.print(table)


@keys_app.command("rotate")
def rotate(
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A new key signs from now on; the old one stays published until its tokens expire."""
    key = _remote(url, "POST", "/v1/keys/rotate") if _server(url) else _local_keys(rotate=True)[-1]
    if as_json:
        print_json(key)
        return
    console.print(f"new signing key [bold]{key['kid']}[/]")


def _server(url: str | None) -> str | None:
    return url or os.environ.get("WARDEN_URL")


def _remote(url: str | None, method: str, path: str) -> dict[str, Any]:
    server = _server(url)
    assert server is not None
    token = client_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, server.rstrip("/") + path, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach warden at {server}: {type(exc).__name__}")
    if response.status_code != 200:
        fail(f"warden at {server} answered {response.status_code} for {path}")
    body: dict[str, Any] = response.json()
    return body


def _local_keys(*, rotate: bool) -> list[dict[str, Any]]:
    from warden.tokens.api import key_summary

    with connect(None) as backend:
        if not isinstance(backend, LocalBackend):
            raise BackendError("expected the local store")
        now = datetime.now(UTC)

        async def work(runtime: Any) -> list[dict[str, Any]]:
            if rotate:
                await runtime.tokens.keys.rotate(now)
            return [key_summary(k, now) for k in runtime.tokens.keys.all_keys()]

        return backend.change(work) if rotate else backend.run(work)
