"""``warden mcp-proxy --server NAME -- CMD ARGS...``: Warden in front of a local stdio MCP server.

Many MCP servers run as a subprocess of the agent, on its machine, speaking stdio; no HTTP
gateway can sit on that path. The proxy takes the upstream's place: the agent launches the
proxy instead of the server, the proxy launches the server, and every ``tools/call``,
``resources/read`` and ``prompts/get`` is decided by the Warden at ``--url`` first (through its
gateway API, :class:`~warden.gateway.remote.RemoteGateway`) — the same governed server the
HTTP gateway runs (:func:`~warden.gateway.mcp.build_server`), fail closed.

- The agent's access token is ``WARDEN_AGENT_TOKEN`` (audience ``<url>/mcp/<server>``); the
  mandate ``WARDEN_TXN_TOKEN`` and the chain ``WARDEN_CHAIN``, when set, else per call from
  ``_meta`` (``warden/mandate``, ``warden/chain``).
- Those variables are removed from the upstream's environment: the token stops at the proxy
  (MCP: a server MUST NOT pass tokens through), and the upstream has no business with it.
- Warden's tool id is ``--prefix`` + the upstream's tool name (default ``<server>.``).
- stdout carries MCP frames only. Anything that stops the proxy from starting (no token,
  Warden unreachable or refusing the token, the upstream command failing) is one line on
  stderr and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import anyio
import typer
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.stdio import stdio_server

from warden.errors import WardenError
from warden.gateway.core import Caller
from warden.gateway.mcp import Identity, Upstream, UpstreamFailed, build_server
from warden.gateway.mcp.upstream import Opener
from warden.gateway.remote import DECIDE_TIMEOUT, GatewayUnavailable, RemoteGateway

TOKEN_VAR = "WARDEN_AGENT_TOKEN"
MANDATE_VAR = "WARDEN_TXN_TOKEN"
CHAIN_VAR = "WARDEN_CHAIN"
WITHHELD = frozenset({TOKEN_VAR, MANDATE_VAR, CHAIN_VAR, "WARDEN_TOKEN"})
"""Never passed to the upstream: the agent's credentials, its mandate and chain, and a
person's or admin's Warden token that happens to be in the environment."""

UPSTREAM_LOGGER = "warden.gateway.mcp"


class ProxyError(WardenError):
    """The proxy cannot start (the message is the one line shown on stderr)."""

    code = "mcp_proxy.cannot_start"


@dataclass(frozen=True, slots=True)
class ProxySettings:
    server: str
    url: str
    token: str
    mandate: str | None
    chain: str | None
    prefix: str
    command: str
    args: tuple[str, ...]
    upstream_env: Mapping[str, str]
    decide_timeout: float
    upstream_timeout: float


def register(app: typer.Typer) -> None:
    app.command("mcp-proxy", context_settings={"allow_interspersed_args": False})(mcp_proxy)


def mcp_proxy(
    command: list[str] = typer.Argument(
        ..., metavar="-- CMD [ARGS]...", help="The upstream MCP server's command line."
    ),
    server: str = typer.Option(
        ..., "--server", help="The MCP server's name in Warden (`/mcp/<server>`)."
    ),
    url: str | None = typer.Option(
        None, "--url", envvar="WARDEN_URL", help="The Warden server (else WARDEN_URL)."
    ),
    prefix: str | None = typer.Option(
        None, "--prefix", help="Warden's tool id = prefix + tool name (default `<server>.`)."
    ),
    decide_timeout: float = typer.Option(
        DECIDE_TIMEOUT, "--decide-timeout", help="Seconds to wait for a verdict (holds incl.)."
    ),
    upstream_timeout: float = typer.Option(
        30.0, "--upstream-timeout", help="Seconds to wait for the upstream server."
    ),
) -> None:
    """An MCP server on stdio for the agent, fronting the upstream server started with
    ``CMD ARGS...``; each call is decided by Warden first.

    The agent's access token comes from WARDEN_AGENT_TOKEN (its mandate from WARDEN_TXN_TOKEN,
    its chain from WARDEN_CHAIN); none of them reach the upstream.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        settings = _settings(server, url, prefix, command, decide_timeout, upstream_timeout)
        anyio.run(serve, settings)
    except (ProxyError, BaseExceptionGroup) as error:
        reason = _cannot_start(error)
        if reason is None:
            raise
        sys.stderr.write(f"warden mcp-proxy: {reason.message}\n")
        raise typer.Exit(1) from None


def _cannot_start(error: BaseException) -> ProxyError | None:
    """The reason the proxy stopped, also from inside a task group's exception group."""
    if isinstance(error, ProxyError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _cannot_start(inner)
            if found is not None:
                return found
    return None


def _settings(
    server: str,
    url: str | None,
    prefix: str | None,
    command: list[str],
    decide_timeout: float,
    upstream_timeout: float,
) -> ProxySettings:
    token = os.environ.get(TOKEN_VAR, "").strip()
    if not token:
        raise ProxyError(
            f"{TOKEN_VAR} is not set: give the agent's access token for "
            f"<warden>/mcp/{server} (never passed to the upstream)"
        )
    if not url:
        raise ProxyError("no Warden server: pass --url or set WARDEN_URL")
    if not command:
        raise ProxyError("no upstream command: give it after `--`")
    return ProxySettings(
        server=server,
        url=url,
        token=token,
        mandate=os.environ.get(MANDATE_VAR) or None,
        chain=os.environ.get(CHAIN_VAR) or None,
        prefix=f"{server}." if prefix is None else prefix,
        command=command[0],
        args=tuple(command[1:]),
        upstream_env=upstream_environment(os.environ),
        decide_timeout=decide_timeout,
        upstream_timeout=upstream_timeout,
    )


def upstream_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The proxy's environment without what the upstream must never see."""
    return {k: v for k, v in environ.items() if k not in WITHHELD}


async def serve(settings: ProxySettings) -> None:
    """Check Warden and the upstream, then serve the agent on stdio until it hangs up."""
    remote = RemoteGateway(
        settings.url, settings.server, settings.token, decide_timeout=settings.decide_timeout
    )
    async with remote:
        caller = await _checked(remote)
        upstream = Upstream(settings.server, _opener(settings), timeout=settings.upstream_timeout)
        async with upstream.running():
            await _started(upstream, settings.command)
            identity: Identity = (caller, settings.mandate, settings.chain)
            server = build_server(
                settings.server, upstream, remote, lambda: identity, settings.prefix
            )
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())


async def _checked(remote: RemoteGateway) -> Caller:
    try:
        return await remote.check()
    except GatewayUnavailable as error:
        raise ProxyError(error.message) from None


async def _started(upstream: Upstream, command: str) -> None:
    """Open the upstream session now, so a command that fails is reported at start (in one
    line: the session's own warning is held back until it is open)."""
    session_log = logging.getLogger(UPSTREAM_LOGGER)
    session_log.setLevel(logging.CRITICAL)
    try:
        await upstream.session()
    except UpstreamFailed as error:
        raise ProxyError(f"the upstream command `{command}` failed: {error.message}") from None
    finally:
        session_log.setLevel(logging.NOTSET)


def _opener(settings: ProxySettings) -> Opener:
    """Starts the upstream command (without Warden's variables) and opens its session."""
    params = StdioServerParameters(
        command=settings.command, args=list(settings.args), env=dict(settings.upstream_env)
    )
    wait = timedelta(seconds=settings.upstream_timeout)

    @contextlib.asynccontextmanager
    async def open_session() -> AsyncIterator[ClientSession]:
        async with (
            stdio_client(params, errlog=sys.stderr) as (read, write),
            ClientSession(read, write, read_timeout_seconds=wait) as session,
        ):
            await session.initialize()
            yield session

    return open_session
