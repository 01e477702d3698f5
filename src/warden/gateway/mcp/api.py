"""``/mcp/<server>``: the MCP gateway over streamable HTTP, one governed server per connection.

Each MCP connection gets one lowlevel server (:func:`~warden.gateway.mcp.governed.build_server`),
one session manager (stateful sessions) and one shared upstream client session. They are
created on the first request to the connection and run in the app's lifespan (``on_start``):
a session manager's ``run()`` must be entered by a long-lived task, and can be entered once,
so each connection's parts live in a holder task of the gateway's task group, and a changed
connection gets new ones (its agents' sessions end; they initialize again).

Every request is authenticated first (:func:`~warden.gateway.auth.identify`, the MCP
authorization spec): 401 with ``resource_metadata`` without a valid token for this server.
An MCP session belongs to the agent that opened it: another agent's token on it is answered
404, as if it did not exist, and killing an agent closes its sessions.

This module maps the gateway's errors to HTTP; the governance itself is in ``governed``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.lowlevel.server import request_ctx
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from warden.decisions.api import header_context
from warden.gateway.auth import (
    MCP_PREFIX,
    identify,
    resource_metadata,
    resource_path,
)
from warden.gateway.connections.errors import ConnectionNotFound
from warden.gateway.connections.models import Connection
from warden.gateway.connections.models import Protocol as ConnectionProtocol
from warden.gateway.core import Caller
from warden.gateway.mcp.governed import Identity, build_server
from warden.gateway.mcp.upstream import Upstream, http_opener
from warden.kill.models import Kill, KillKind
from warden.tokens.errors import OAuthError
from warden.tokens.rfc9728 import PATH as METADATA_PATH

if TYPE_CHECKING:
    from fastapi import FastAPI

    from warden.runtime import Runtime

log = logging.getLogger("warden.gateway.mcp")

CALLER = "warden.caller"  # the ASGI scope key the authenticated caller is kept under
SESSION_IDLE_SECONDS = 30 * 60.0


def mount(app: FastAPI, runtime: Runtime) -> None:
    """Mount ``/mcp/<server>`` and its protected-resource metadata on ``app``; the gateway runs
    for the app's lifetime (``app.state.on_start``)."""
    gateway = McpGateway(runtime)
    app.state.on_start.append(gateway.running)
    app.state.mcp_gateway = gateway
    runtime.kills.effects[KillKind.AGENT].append(gateway.on_agent_killed)
    app.router.routes.append(Route(METADATA_PATH + MCP_PREFIX + "/{server}", gateway.metadata))
    # First in the router: every MCP request would otherwise be matched against every
    # route of the admin API before reaching its own.
    app.router.routes.insert(0, Route(MCP_PREFIX + "/{server}", _Endpoint(gateway)))


@dataclass
class _Served:
    """One connection's running parts."""

    connection: Connection
    manager: StreamableHTTPSessionManager
    upstream: Upstream
    stop: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)
    owners: dict[str, str] = field(default_factory=dict)  # MCP session id → agent


class McpGateway:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._served: dict[str, _Served] = {}
        self._group: TaskGroup | None = None
        self._lock = anyio.Lock()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                self._group = None
                for served in list(self._served.values()):
                    served.stop.set()
                with anyio.move_on_after(10, shield=True):
                    for served in list(self._served.values()):
                        await served.ended.wait()
                self._served.clear()
                group.cancel_scope.cancel()

    # -- requests --------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        name = str(scope["path_params"]["server"])
        path = resource_path(MCP_PREFIX, name)
        try:
            caller = await identify(
                self.runtime,
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
                request.method,
                str(request.url),
                path,
            )
        except OAuthError as error:
            answer = JSONResponse(error.to_dict(), status_code=error.status, headers=error.headers)
            return await answer(scope, receive, send)
        served = await self._serve(name)
        if served is None:
            return await _not_found(f"no MCP server `{name}`")(scope, receive, send)
        if request.method == "GET":
            # No server-initiated stream: answers come with their requests (spec: 405 is how
            # a server says so), and no agent holds a connection open for nothing.
            return await Response(status_code=405, headers={"Allow": "POST, DELETE"})(
                scope, receive, send
            )
        session = request.headers.get(MCP_SESSION_ID_HEADER)
        if session is not None and served.owners.get(session) != caller.agent:
            # Another agent's session, a closed one, or none at all: the same answer.
            return await _session_not_found()(scope, receive, send)
        scope = {**scope, CALLER: caller}
        await served.manager.handle_request(scope, receive, _owning(served, caller, send))
        if session is not None and request.method == "DELETE":
            served.owners.pop(session, None)  # the agent ended it

    async def metadata(self, request: Request) -> Response:
        """The RFC 9728 document of ``/mcp/<server>`` (404 for a server Warden does not front)."""
        name = request.path_params["server"]
        if await self._connection(name) is None:
            return _not_found(f"no MCP server `{name}`")
        issuer = self.runtime.token_settings.issuer
        document = resource_metadata(
            issuer, resource_path(MCP_PREFIX, name), self.runtime.tokens.dpop.algs, name=name
        )
        return JSONResponse(document)

    # -- kills -----------------------------------------------------------------------------

    async def on_agent_killed(self, kill: Kill, now: datetime) -> str | None:
        """Close the killed agent's open MCP sessions (their ids answer 404 from now on)."""
        closed = 0
        for served in list(self._served.values()):
            for session in [s for s, agent in served.owners.items() if agent == kill.target]:
                served.owners.pop(session, None)
                await _terminate(served.manager, session)
                closed += 1
        if not closed:
            return None
        return f"closed {closed} MCP session{'s' if closed != 1 else ''}"

    def sessions(self, agent: str) -> Iterator[str]:
        """The open MCP session ids of ``agent`` (for tests and operators)."""
        for served in self._served.values():
            yield from (s for s, owner in served.owners.items() if owner == agent)

    # -- per connection --------------------------------------------------------------------

    async def _connection(self, name: str) -> Connection | None:
        try:
            connection = await self.runtime.connections.get(name)
        except ConnectionNotFound:
            return None
        return connection if connection.protocol is ConnectionProtocol.MCP else None

    async def _serve(self, name: str) -> _Served | None:
        connection = await self._connection(name)
        if connection is None:
            return None
        served = self._served.get(name)
        if served is not None and served.connection == connection:
            return served  # every request but a connection's first: no lock
        async with self._lock:
            served = self._served.get(name)
            if served is not None and served.connection == connection:
                return served
            if served is not None:  # changed: its sessions end, agents initialize again
                served.stop.set()
            served = await self._start(connection)
            self._served[name] = served
            return served

    async def _start(self, connection: Connection) -> _Served:
        group = self._group
        if group is None:
            raise RuntimeError("the MCP gateway is not running (app lifespan not entered)")
        runtime = self.runtime
        timeout = connection.limits.timeout

        @contextlib.asynccontextmanager
        async def credentialed() -> AsyncIterator[Any]:
            # Headers are read when the session opens, so a rotated secret is used on reopen.
            # The session is shared by every agent: no agent's token to exchange (an
            # `oauth_token_exchange` MCP connection is refused as an upstream failure).
            headers = await runtime.broker.headers(connection, subject_token=None)
            async with http_opener(connection.url, headers, timeout=timeout)() as session:
                yield session

        upstream = Upstream(connection.name, credentialed, timeout=timeout)
        prefix = connection.tool_prefix or f"{connection.name}."
        server = build_server(connection.name, upstream, runtime.gateway, _http_identity, prefix)
        manager = StreamableHTTPSessionManager(
            server, json_response=True, session_idle_timeout=SESSION_IDLE_SECONDS
        )
        served = _Served(connection, manager, upstream)
        started = anyio.Event()

        async def hold() -> None:
            try:
                async with upstream.running(), manager.run():
                    started.set()
                    await served.stop.wait()
            except Exception:
                log.exception("MCP server `%s` stopped", connection.name)
            finally:
                started.set()
                served.ended.set()

        group.start_soon(hold)
        await started.wait()
        return served


class _Endpoint:
    """The ASGI app of ``/mcp/{server}`` (a class, so Starlette passes every method)."""

    def __init__(self, gateway: McpGateway) -> None:
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.gateway.handle(scope, receive, send)


def _http_identity() -> Identity:
    """The caller of the MCP request being handled, as the gateway authenticated it, with the
    mandate and chain headers it sent."""
    request = request_ctx.get().request
    if not isinstance(request, Request) or not isinstance(request.scope.get(CALLER), Caller):
        raise RuntimeError("an MCP request reached the gateway without an authenticated caller")
    caller: Caller = request.scope[CALLER]
    sent = header_context(request.headers)
    return caller, sent.get("mandate"), sent.get("chain")


def _owning(served: _Served, caller: Caller, send: Send) -> Send:
    """``send``, noting the session a successful initialize opened as ``caller``'s."""

    async def watch(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] < 400:
            for key, value in message.get("headers", []):
                if key.decode("latin-1").lower() == MCP_SESSION_ID_HEADER:
                    served.owners.setdefault(value.decode("latin-1"), caller.agent)
        await send(message)

    return watch


async def _terminate(manager: StreamableHTTPSessionManager, session: str) -> None:
    """End one MCP session now (the manager offers no public call for it)."""
    transport = manager._server_instances.pop(session, None)
    manager._session_owners.pop(session, None)
    if transport is not None and not transport.is_terminated:
        with anyio.CancelScope(shield=True):
            await transport.terminate()


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": message}, status_code=404)


def _session_not_found() -> JSONResponse:
    body = {
        "jsonrpc": "2.0",
        "id": "server-error",
        "error": {"code": -32600, "message": "Session not found"},
    }
    return JSONResponse(body, status_code=404)
