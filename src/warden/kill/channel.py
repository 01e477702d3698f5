"""Kills between replicas, at once, on PostgreSQL: ``LISTEN``/``NOTIFY``.

A kill (or revival) is written with ``pg_notify('warden_kills', <kill id>)`` in the same
transaction (PostgreSQL delivers it on commit, to every listening connection), and each
replica's listener reads that kill back and applies it to its memory: enforced there on its
next action, not at the next housekeeping sync. The sync stays as the safety net (a listener
that was reconnecting misses notifications; the sync catches up). SQLite has one process by
construction, so it needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "warden_kills"


class KillChannel:
    """Listens on :data:`CHANNEL` over its own connection; ``heard(kill_id)`` per message."""

    def __init__(self, async_url: str, heard: Callable[[str], Awaitable[None]]) -> None:
        url = make_url(async_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._heard = heard
        self._connection: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._connection = await asyncpg.connect(self._dsn)
        await self._connection.add_listener(CHANNEL, self._notified)

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, kill_id: str) -> None:
        try:
            await self._heard(kill_id)
        except Exception:  # the housekeeping sync still catches it up
            log.exception("could not apply kill %s from another replica", kill_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
