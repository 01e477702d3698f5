"""``warden agents credentials issue``: an X509-SVID or a JWT-SVID for a registered agent.

Over HTTP (``--url`` / ``WARDEN_URL``) the server issues (``POST /v1/agents/{id}/credentials``
with the admin token); otherwise the local store's SPIFFE issuer does, for the trust domain
``WARDEN_TRUST_DOMAIN`` (default ``warden.local``). Either way the agent must be registered and
active. With ``--out`` the files are written there (``svid.key`` and ``svid.jwt`` mode 0600);
without it the credential is printed as JSON.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer

from warden.cli.backend import URL_HELP, BackendError, HttpBackend, LocalBackend, connect
from warden.cli.output import console, fail, print_json
from warden.registry.models import Agent, AgentStatus

if TYPE_CHECKING:
    from warden.runtime import Runtime

credentials_app = typer.Typer(
    help="Issue SPIFFE credentials (X509-SVID, JWT-SVID) to agents.", no_args_is_help=True
)


@credentials_app.command("issue")
def issue(
    agent_id: str = typer.Argument(..., help="The agent's SPIFFE ID."),
    x509: bool = typer.Option(False, "--x509", help="An X509-SVID (the default)."),
    jwt: bool = typer.Option(False, "--jwt", help="A JWT-SVID (needs --audience)."),
    audience: list[str] = typer.Option([], "--audience", help="JWT-SVID audience (repeatable)."),
    ttl: int | None = typer.Option(None, "--ttl", help="Lifetime in seconds.", min=1),
    out: Path | None = typer.Option(None, "--out", help="Write the files to this folder."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (without keys with --out)."),
) -> None:
    """Issue an X509-SVID (svid.pem, svid.key, bundle.pem) or a JWT-SVID to an agent."""
    if x509 and jwt:
        fail("choose one of --x509 and --jwt")
    if jwt and not audience:
        fail("a jwt-svid needs --audience")
    body: dict[str, Any] = {"kind": "jwt" if jwt else "x509", "audience": audience, "ttl": ttl}
    with connect(url) as backend:
        _check_active(backend.agent(agent_id))
        if isinstance(backend, LocalBackend):
            issued = _issue_locally(backend, agent_id, body)
        elif isinstance(backend, HttpBackend):
            issued = _issue_over_http(backend, agent_id, body)
        else:
            raise BackendError(f"`{backend.where}` cannot issue credentials")
    if out is None:
        print_json(issued)
        return
    written = write_credential(issued, out)
    if as_json:
        print_json({**_summary(issued), "files": [str(p) for p in written]})
        return
    console.print(
        f"issued a {issued['kind']}-svid for [bold]{agent_id}[/], expires {issued['expires_at']}",
        highlight=False,
    )
    for path in written:
        console.print(f"  {path}", highlight=False)


def write_credential(issued: dict[str, Any], out: Path) -> list[Path]:
    """Write the credential's files into ``out``; secrets are created with mode 0600."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if issued["kind"] == "jwt":
            return [_write(out / "svid.jwt", issued["token"] + "\n", secret=True)]
        return [
            _write(out / "svid.pem", issued["certificate"], secret=False),
            _write(out / "svid.key", issued["private_key"], secret=True),
            _write(out / "bundle.pem", issued["bundle"], secret=False),
        ]
    except OSError as exc:
        fail(f"cannot write to `{out}`: {exc.strerror or exc}")


def _check_active(agent: Agent) -> None:
    if agent.status is not AgentStatus.ACTIVE:
        raise BackendError(
            f"agent `{agent.id}` is {agent.status.value}: only active agents get credentials"
        )


def _issue_over_http(backend: HttpBackend, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/v1/agents/{quote(agent_id, safe='/:')}/credentials"
    issued: dict[str, Any] = backend._call("POST", path, json=body)
    return issued


def _issue_locally(backend: LocalBackend, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
    # imported here: cryptography and joserfc are not needed by the other agents commands
    from warden.tokens.svid_api import CredentialRequest, issue_credential, issued_event

    request = CredentialRequest.model_validate(body)

    async def work(runtime: Runtime) -> dict[str, Any]:
        issued = issue_credential(runtime.svids, agent_id, request, datetime.now(UTC))
        await runtime.record_credential_issued(issued_event(issued))
        return issued

    # A change: refused while a server owns the store (it would also add keys behind it).
    return backend.change(work)


def _write(path: Path, text: str, *, secret: bool) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "w") as handle:
        if secret:
            os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode otherwise
        handle.write(text)
    return path


def _summary(issued: dict[str, Any]) -> dict[str, Any]:
    keep = ("kind", "spiffe_id", "expires_at", "serial", "audience")
    return {k: issued[k] for k in keep if k in issued}
