"""One long-lived MCP client session to an upstream server, shared by every agent.

The gateway talks to each upstream as itself (the connection's own credential), so one session
serves all agents: opening one per agent would multiply upstream sessions and leak who is
calling to a server that has no business knowing. The session is opened on first use, kept
open, and reopened on the next call after it fails (the upstream restarted, the network broke).

The SDK's client transports are anyio context managers that must be entered and left by the
same task, so each session lives in its own holder task inside :meth:`Upstream.running`; the
request handlers of every agent's MCP session only send requests over it. Every operation is
bounded by the connection's timeout: a dead upstream is an error for the agent, never a hang.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import TypeVar

import anyio
import httpx
from anyio.abc import TaskGroup
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND

from warden.errors import WardenError

log = logging.getLogger("warden.gateway.mcp")

T = TypeVar("T")

Opener = Callable[[], AbstractAsyncContextManager[ClientSession]]
"""Opens an initialized client session to the upstream (and closes it on exit)."""

_APPLICATION_ERRORS = frozenset({METHOD_NOT_FOUND, INVALID_PARAMS})  # the session is fine
_SESSION_TERMINATED = 32600  # mcp.client.streamable_http: the server answered 404 for the session


class UpstreamFailed(WardenError):
    """The upstream MCP server could not be reached or did not answer (not a Warden decision)."""

    code = "gateway.upstream_failed"


class Upstream:
    """A lazily opened, shared, self-healing client session to one upstream MCP server.

    Use inside ``async with upstream.running():`` (the holder tasks' task group); then
    ``await upstream.run(lambda session: session.call_tool(...))``.
    """

    def __init__(self, name: str, opener: Opener, *, timeout: float = 30.0) -> None:
        self.name = name
        self.timeout = timeout
        self._opener = opener
        self._lock = anyio.Lock()
        self._group: TaskGroup | None = None
        self._session: ClientSession | None = None
        self._stop: anyio.Event | None = None  # set: the holder task closes its session
        self._holding: set[anyio.Event] = set()  # one per holder task, set when it has ended

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Upstream]:
        """The lifetime sessions may be opened in; the open one is closed when it ends."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield self
            finally:
                self._group = None
                self._drop()
                with anyio.move_on_after(min(self.timeout, 5.0), shield=True):
                    for ended in list(self._holding):  # let holders end their sessions
                        await ended.wait()
                group.cancel_scope.cancel()

    async def run(self, operation: Callable[[ClientSession], Awaitable[T]]) -> T:
        """``operation`` on the shared session, bounded by the timeout. A transport failure
        drops the session (the next call reopens it) and raises :class:`UpstreamFailed`;
        an error the upstream answered with (``McpError``) is raised as it is."""
        for attempt in (1, 2):
            session = await self.session()
            try:
                with anyio.fail_after(self.timeout):
                    return await operation(session)
            except McpError as error:
                if error.error.code in _APPLICATION_ERRORS:
                    raise
                self._drop(session)
                if attempt == 1 and _session_gone(error):
                    continue  # the upstream forgot the session: the request never ran there
                raise
            except Exception as error:
                self._drop(session)
                raise UpstreamFailed(f"upstream `{self.name}` failed: {_describe(error)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def session(self) -> ClientSession:
        """The open session, opening it first if there is none."""
        async with self._lock:
            if self._session is None:
                self._session = await self._open()
            return self._session

    async def _open(self) -> ClientSession:
        group = self._group
        if group is None:
            raise UpstreamFailed(f"upstream `{self.name}` is not running")
        opened: list[ClientSession] = []
        failed: list[BaseException] = []
        ready, stop, ended = anyio.Event(), anyio.Event(), anyio.Event()
        self._holding.add(ended)

        async def hold() -> None:
            try:
                async with self._opener() as session:
                    opened.append(session)
                    ready.set()
                    await stop.wait()
            except Exception as error:  # the upstream broke: the next call reopens
                failed.append(error)
                log.warning("upstream `%s` session ended: %s", self.name, _describe(error))
            finally:
                ready.set()
                ended.set()
                self._holding.discard(ended)
                if self._stop is stop:
                    self._session, self._stop = None, None

        group.start_soon(hold)
        with anyio.move_on_after(self.timeout):
            await ready.wait()
        if not opened:
            stop.set()
            why = _describe(failed[0]) if failed else f"no answer within {self.timeout:g} s"
            raise UpstreamFailed(f"upstream `{self.name}` could not be reached: {why}")
        if stop.is_set() or failed:
            raise UpstreamFailed(f"upstream `{self.name}` closed the session")
        self._stop = stop
        return opened[0]

    def _drop(self, session: ClientSession | None = None) -> None:
        """Close the open session (only if it is still ``session``, when given)."""
        if session is not None and session is not self._session:
            return
        if self._stop is not None:
            self._stop.set()
        self._session, self._stop = None, None


def http_opener(url: str, headers: Mapping[str, str], *, timeout: float) -> Opener:
    """Opens a streamable HTTP session to ``url`` sending ``headers`` (the connection's own
    credential) with every request."""

    @contextlib.asynccontextmanager
    async def open_session() -> AsyncIterator[ClientSession]:
        limits = httpx.Timeout(timeout, read=max(timeout, 300.0))
        async with (
            httpx.AsyncClient(headers=dict(headers), timeout=limits) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write, read_timeout_seconds=timedelta(seconds=timeout)) as session,
        ):
            await session.initialize()
            yield session

    return open_session


def _session_gone(error: McpError) -> bool:
    """The upstream answered 404 for the session id (it restarted, or ended the session): the
    SDK's client reports that as this error, and the request was not handled upstream."""
    return error.error.code == _SESSION_TERMINATED and error.error.message == "Session terminated"


def _describe(error: BaseException) -> str:
    """What went wrong, without anything that could carry a credential (no headers, no URL
    query): the exception's type and the first line of its message."""
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _describe(error.exceptions[0])
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__
