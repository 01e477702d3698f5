"""The ledger against real SQLite and PostgreSQL, tampered with the way an attacker would:
raw SQL on the ``ledger`` table."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.audit import (
    EventType,
    Ledger,
    LedgerEntry,
    LedgerUnavailable,
    SqlLedgerStore,
    verify,
)
from warden.store.db import DatabaseURL, migrate, open_engine, parse_database_url

DENY = EventType.DECISION_DENY


@pytest.fixture
def database(database_url: str) -> DatabaseURL:
    """A migrated store of each kind (the shared ``database_url`` fixture), by its URL."""
    url = parse_database_url(database_url)
    migrate(url)
    return url


async def _fill(engine: AsyncEngine, n: int) -> list[LedgerEntry]:
    async with Ledger(SqlLedgerStore(engine)) as ledger:
        return list(
            await asyncio.gather(
                *(ledger.append(DENY, {"n": i, "outcome": "deny"}) for i in range(n))
            )
        )


async def _attack(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as connection:
        for statement in statements:
            await connection.exec_driver_sql(statement)


async def test_concurrent_appends_commit_durably_and_verify(
    engine: AsyncEngine, database: DatabaseURL
) -> None:
    entries = await _fill(engine, 200)
    assert sorted(e.seq for e in entries) == list(range(1, 201))
    reopened = open_engine(database)  # a fresh connection sees every acknowledged entry
    try:
        store = SqlLedgerStore(reopened)
        assert await store.count() == 200
        assert await store.get(entries[7].entry_id) == entries[7]
        assert [e.seq for e in await store.tail(3)] == [198, 199, 200]
        assert [e.seq for e in await store.scan(10, 2)] == [11, 12]
        assert await store.head() == (200, max(entries, key=lambda e: e.seq).hash)
        report = await verify(store, batch=64)
    finally:
        await reopened.dispose()
    assert report.ok, report.detail
    assert report.entries_checked == 200


async def test_a_restarted_ledger_continues_the_chain(engine: AsyncEngine) -> None:
    await _fill(engine, 5)
    entries = await _fill(engine, 5)
    assert sorted(e.seq for e in entries) == [6, 7, 8, 9, 10]
    assert (await verify(SqlLedgerStore(engine))).ok


@pytest.mark.parametrize(
    ("attack", "seq", "problem"),
    [
        (['UPDATE ledger SET payload = \'{"outcome":"allow"}\' WHERE seq = 4'], 4, "altered"),
        (["UPDATE ledger SET event_type = 'decision:allow' WHERE seq = 6"], 6, "altered"),
        (["UPDATE ledger SET payload = 'not json' WHERE seq = 7"], 7, "altered"),
        (["UPDATE ledger SET recorded_at = 'yesterday' WHERE seq = 2"], 2, "altered"),
        (["DELETE FROM ledger WHERE seq = 5"], 5, "removed"),
        (["DELETE FROM ledger WHERE seq = 1"], 1, "removed"),
        (
            [
                "UPDATE ledger SET seq = -1 WHERE seq = 3",
                "UPDATE ledger SET seq = 3 WHERE seq = 4",
                "UPDATE ledger SET seq = 4 WHERE seq = -1",
            ],
            3,
            "reordered",
        ),
    ],
)
async def test_tampering_with_raw_sql_is_named(
    engine: AsyncEngine, attack: list[str], seq: int, problem: str
) -> None:
    await _fill(engine, 10)
    await _attack(engine, *attack)
    report = await verify(SqlLedgerStore(engine), batch=4)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, seq, problem)
    assert report.detail.startswith(("entry", f"entries {seq}"))


async def test_a_truncated_tail_is_caught_with_the_expected_head(engine: AsyncEngine) -> None:
    await _fill(engine, 10)
    store = SqlLedgerStore(engine)
    head = await store.head()
    await _attack(engine, "DELETE FROM ledger WHERE seq > 7")
    report = await verify(store, expect_head=head)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 8, "removed")


async def test_two_writers_never_fork_the_chain(database: DatabaseURL) -> None:
    engines = [open_engine(database), open_engine(database)]
    ledgers = [Ledger(SqlLedgerStore(e)) for e in engines]
    try:
        for ledger in ledgers:
            await ledger.start()
        # Both start from the same head: batches conflict, are not written, and are chained
        # again on the reloaded head. Every append lands exactly once, in one chain.
        results = await asyncio.gather(
            *(ledgers[i % 2].append(DENY, {"n": i}) for i in range(100)), return_exceptions=True
        )
        assert all(isinstance(r, LedgerEntry) for r in results), results
        store = SqlLedgerStore(engines[0])
        assert sorted(r.seq for r in results if isinstance(r, LedgerEntry)) == list(range(1, 101))
        report = await verify(store)
        assert report.ok and report.entries_checked == 100, report.detail
    finally:
        for ledger in ledgers:
            await ledger.close()
        for engine in engines:
            await engine.dispose()


async def test_an_unreachable_store_fails_the_append_without_losing_the_chain(
    engine: AsyncEngine,
) -> None:
    await _fill(engine, 3)
    async with Ledger(SqlLedgerStore(engine)) as ledger:
        await _attack(engine, "ALTER TABLE ledger RENAME TO ledger_gone")
        with pytest.raises(LedgerUnavailable):
            await ledger.append(DENY, {"n": "lost"})
        await _attack(engine, "ALTER TABLE ledger_gone RENAME TO ledger")
        entry = await ledger.append(DENY, {"n": "kept"})
    assert entry.seq == 4
    assert (await verify(SqlLedgerStore(engine))).ok
