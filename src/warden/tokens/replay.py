"""One-time-use caches: DPoP proof ``jti`` values (RFC 9449 §11.1) and client assertion
``jti`` values (RFC 7523 §3), kept in the shared store so they hold across replicas.

``first_use(key, expires_at, now)`` records ``key`` and answers True the first time, False on
every later call until it expires (all times are Unix seconds; the clock is passed in).
Expired keys are purged as a side effect.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.store.schema import replay_cache

_PURGE_EVERY = 1000  # writes between purges of expired keys


class ReplayCache(Protocol):
    async def first_use(self, key: str, expires_at: int, now: int) -> bool:
        """True if ``key`` was not seen before (and is now remembered until ``expires_at``)."""


class MemoryReplayCache:
    """In-process cache, for tests and single-process embedding."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._purge_at = _PURGE_EVERY

    async def first_use(self, key: str, expires_at: int, now: int) -> bool:
        if len(self._seen) >= self._purge_at:
            self._seen = {k: e for k, e in self._seen.items() if e > now}
            # Amortised: with many live keys, purging on every call would cost O(n) each.
            self._purge_at = max(_PURGE_EVERY, 2 * len(self._seen))
        if self._seen.get(key, 0) > now:
            return False
        self._seen[key] = expires_at
        return True


class SqlReplayCache:
    """The cache in the ``replay_cache`` table; the primary key makes ``first_use`` atomic."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._writes = 0

    async def first_use(self, key: str, expires_at: int, now: int) -> bool:
        self._writes += 1
        try:
            async with self._engine.begin() as conn:
                if self._writes % _PURGE_EVERY == 0:
                    await conn.execute(delete(replay_cache).where(replay_cache.c.expires_at <= now))
                await conn.execute(insert(replay_cache).values(key=key, expires_at=expires_at))
        except IntegrityError:
            return await self._expired_retry(key, expires_at, now)
        return True

    async def _expired_retry(self, key: str, expires_at: int, now: int) -> bool:
        """A stored key that has already expired may be reused."""
        async with self._engine.begin() as conn:
            gone = await conn.execute(
                delete(replay_cache).where(
                    replay_cache.c.key == key, replay_cache.c.expires_at <= now
                )
            )
            if gone.rowcount == 0:
                return False
            await conn.execute(insert(replay_cache).values(key=key, expires_at=expires_at))
        return True
