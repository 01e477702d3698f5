"""The SQL policy store on real SQLite and PostgreSQL (fixtures in tests/conftest.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.policy import Bundle, PolicyService, PolicyValidationError, default_schema
from warden.policy.store.sql import SqlPolicyStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ENTITIES = ({"uid": {"type": "Team", "id": "ünïcode"}, "attrs": {}, "parents": []},)


def bundle(text: str) -> Bundle:
    return Bundle({"dir/a.cedar": text}, default_schema(), ENTITIES, source="test")


async def test_revisions_round_trip(engine: AsyncEngine) -> None:
    store = SqlPolicyStore(engine)
    assert await store.latest() is None
    assert await store.list() == []
    first = await store.save(bundle("permit(principal, action, resource);"), "ann", NOW)
    later = NOW + timedelta(minutes=5)
    second = await store.save(bundle("forbid(principal, action, resource);"), "bob", later)
    assert (first.revision, second.revision) == (1, 2)
    assert await store.latest() == second
    assert await store.get(1) == first
    assert await store.get(3) is None
    assert [r.revision for r in await store.list()] == [2, 1]
    loaded = await store.get(2)
    assert loaded is not None
    assert loaded.created_at == later
    assert loaded.bundle.digest == loaded.digest == second.bundle.digest
    assert loaded.bundle.entities == ENTITIES


async def test_concurrent_saves_get_distinct_numbers(engine: AsyncEngine) -> None:
    store = SqlPolicyStore(engine)
    saved = await asyncio.gather(
        *(
            store.save(bundle("permit(principal, action, resource);"), f"w{i}", NOW)
            for i in range(4)
        )
    )
    assert sorted(r.revision for r in saved) == [1, 2, 3, 4]


async def test_bad_bundle_leaves_the_active_revision(engine: AsyncEngine) -> None:
    service = PolicyService(SqlPolicyStore(engine))
    good, _ = await service.apply(bundle("permit(principal, action, resource);"), "ann", NOW)
    with pytest.raises(PolicyValidationError):
        await service.apply(bundle("permit(principal, action, resource"), "bob", NOW)
    assert await service.active() == good
    assert len(await service.history()) == 1
