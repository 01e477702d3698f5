"""The one-time-use cache (DPoP and client-assertion ``jti``), in memory and in the
``replay_cache`` table of real SQLite and PostgreSQL databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.replay import MemoryReplayCache, ReplayCache, SqlReplayCache

NOW = 1_750_000_000


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def cache(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReplayCache]:
    if request.param == "memory":
        yield MemoryReplayCache()
        return
    if request.param == "sqlite":
        raw = f"sqlite:///{tmp_path / 'warden.db'}"
    else:
        raw = request.getfixturevalue("postgres_url")  # skipped when PostgreSQL is down
    url = parse_database_url(raw)
    migrate(url)
    engine = open_engine(url)
    try:
        yield SqlReplayCache(engine)
    finally:
        await engine.dispose()


async def test_first_use_then_replay(cache: ReplayCache) -> None:
    assert await cache.first_use("dpop:a", NOW + 60, NOW)
    assert not await cache.first_use("dpop:a", NOW + 60, NOW + 1)
    assert await cache.first_use("dpop:b", NOW + 60, NOW + 1)


async def test_a_key_is_reusable_once_expired(cache: ReplayCache) -> None:
    assert await cache.first_use("k", NOW + 10, NOW)
    assert not await cache.first_use("k", NOW + 70, NOW + 9)
    assert await cache.first_use("k", NOW + 70, NOW + 10)
    assert not await cache.first_use("k", NOW + 80, NOW + 11)


async def test_concurrent_first_uses_admit_exactly_one(cache: ReplayCache) -> None:
    results = await asyncio.gather(*(cache.first_use("race", NOW + 60, NOW) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_memory_cache_forgets_expired_keys_under_load() -> None:
    cache = MemoryReplayCache()
    for i in range(5000):
        assert await cache.first_use(f"k{i}", NOW + 1, NOW)
    assert not await cache.first_use("k4999", NOW + 1, NOW)
    for i in range(5000):  # all the old ones expired: room is reclaimed, the new ones count
        assert await cache.first_use(f"n{i}", NOW + 100, NOW + 2)
    assert len(cache._seen) <= 5001
