"""The SQLite ledger's dedicated writer connection (what ``warden serve`` uses on SQLite)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit import EventType, Ledger, LedgerEntry, verify
from warden.audit.store.sqlite import SqliteLedgerStore
from warden.store.db import migrate, open_engine, parse_database_url

DENY = EventType.DECISION_DENY


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "ledger.db")


@pytest.fixture
async def engine(db_path: str) -> AsyncIterator[AsyncEngine]:
    url = parse_database_url(f"sqlite:///{db_path}")
    migrate(url)
    engine = open_engine(url)
    yield engine
    await engine.dispose()


async def test_concurrent_appends_are_durable_and_chained(
    engine: AsyncEngine, db_path: str
) -> None:
    store = SqliteLedgerStore(engine, db_path)
    async with Ledger(store) as ledger:
        entries = await asyncio.gather(*(ledger.append(DENY, {"n": i}) for i in range(300)))
    await store.close()
    assert sorted(e.seq for e in entries) == list(range(1, 301))
    # Read back by another connection, as an auditor would.
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM ledger").fetchone()[0] == 300
    report = await verify(SqliteLedgerStore(engine, db_path))
    assert report.ok and report.entries_checked == 300


async def test_a_restarted_writer_continues_the_chain(engine: AsyncEngine, db_path: str) -> None:
    for round_ in range(2):
        store = SqliteLedgerStore(engine, db_path)
        async with Ledger(store) as ledger:
            await asyncio.gather(*(ledger.append(DENY, {"r": round_, "n": i}) for i in range(20)))
        await store.close()
    assert (await verify(SqliteLedgerStore(engine, db_path))).entries_checked == 40


async def test_two_writers_never_fork(engine: AsyncEngine, db_path: str) -> None:
    stores = [SqliteLedgerStore(engine, db_path), SqliteLedgerStore(engine, db_path)]
    ledgers = [Ledger(s) for s in stores]
    for ledger in ledgers:
        await ledger.start()
    try:
        results = await asyncio.gather(
            *(ledgers[i % 2].append(DENY, {"n": i}) for i in range(60)), return_exceptions=True
        )
        assert all(isinstance(r, LedgerEntry) for r in results), results
        report = await verify(stores[0])
        assert report.ok and report.entries_checked == 60
    finally:
        for ledger, store in zip(ledgers, stores, strict=True):
            await ledger.close()
            await store.close()
