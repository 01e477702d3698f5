"""``warden serve``: run the HTTP server."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import uvicorn

from warden.cli.output import console, fail
from warden.errors import WardenError
from warden.policy.errors import PolicyValidationError
from warden.server.auth import load_or_create_admin_token, token_path
from warden.server.loop import freeze_startup_heap, run
from warden.tokens.settings import TokenSettings

if TYPE_CHECKING:
    from warden.runtime import Runtime


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8700, help="Port to listen on."),
    bundle: Path | None = typer.Option(
        None, exists=True, file_okay=False, help="Policy bundle folder to apply at start."
    ),
    access_log: bool = typer.Option(False, help="Log every HTTP request."),
) -> None:
    """Start Warden. The store comes from WARDEN_DATABASE_URL (default: SQLite in ./.warden/)."""
    try:
        run(_serve(host, port, bundle, access_log))
    except PolicyValidationError as exc:
        for problem in exc.problems:
            console.print(f"[red]{problem.where}[/]: {problem.message}", highlight=False)
        fail(f"bundle `{bundle}` was not applied: {len(exc.problems)} problem(s)", code=2)
    except WardenError as exc:
        fail(exc.message, code=2)


async def _serve(host: str, port: int, bundle: Path | None, access_log: bool) -> None:
    from warden.runtime import Runtime
    from warden.server.app import create_app
    from warden.store.db import parse_database_url
    from warden.store.lock import hold_server_lock

    listener = _listen(host, port)  # before anything else: a taken port fails fast
    try:
        url = parse_database_url()
        where = f"http://{host}:{port}"
        lock = hold_server_lock(url.database_path, where) if url.database_path else None
        # Without WARDEN_ISSUER, the issuer is where this server listens (DPoP proofs and
        # client assertions must name it exactly).
        listening = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        settings = TokenSettings.from_env(os.environ.get("WARDEN_ISSUER") or listening)
        runtime = await Runtime.open(url.raw, bundle=bundle, token_settings=settings)
    except BaseException:
        listener.close()
        raise
    try:
        app = create_app(runtime, admin_token=load_or_create_admin_token())
        # Expiry, review deadlines and other periodic work while the server runs.
        runtime.start_housekeeping(float(os.environ.get("WARDEN_HOUSEKEEPING_SECONDS") or 15))
        _banner(runtime, host, port)
        config = uvicorn.Config(app, access_log=access_log, log_level="warning")
        freeze_startup_heap()
        await uvicorn.Server(config).serve(sockets=[listener])
    finally:
        await runtime.close()
        listener.close()
        if lock is not None:
            lock.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    listener.listen(2048)
    listener.setblocking(False)
    return listener


class ServeError(WardenError):
    code = "cannot_serve"


def _banner(runtime: Runtime, host: str, port: int) -> None:
    view = runtime.view
    policies = len(view.policies.policy_ids)
    token = "WARDEN_ADMIN_TOKEN" if os.environ.get("WARDEN_ADMIN_TOKEN") else str(token_path())
    lines = [
        f"[bold]Warden[/] listening on [cyan]http://{host}:{port}[/]",
        f"  store      {runtime.url.dialect} ({runtime.url.database_path or 'server'})",
        f"  policies   revision {view.revision}, {policies} policies · "
        f"{len(view.registry.agents)} agents · {len(view.registry.tools)} tools",
        f"  admin api  /v1 with the bearer token in {token} · docs at /docs",
        "  authzen    POST /access/v1/evaluation",
        "  scim       /scim/v2 (Okta, Entra) with an admin token or `warden access grant`",
        f"  oauth      issuer {runtime.tokens.settings.issuer} (WARDEN_ISSUER) · "
        f"trust domain {runtime.tokens.settings.trust_domain} (WARDEN_TRUST_DOMAIN)",
    ]
    if not policies:
        lines.append(
            "  [yellow]no policies yet: every action is denied until you apply a bundle "
            "(`warden policy apply DIR`)[/]"
        )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
