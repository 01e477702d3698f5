"""Issued tokens are recorded durably even when many are issued at once (group commit)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from warden.store.db import migrate, open_engine, parse_database_url
from warden.tokens.store import TokenRecord
from warden.tokens.store.sql import SqlTokenStore

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def record(jti: str) -> TokenRecord:
    return TokenRecord(
        jti=jti,
        grant_id=f"g-{jti}",
        kind="access",
        client_id="c",
        subject="s",
        scope=("a",),
        audience=("https://api.example",),
        claims={"jti": jti},
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    )


async def test_concurrent_issuance_is_recorded_in_few_transactions(database_url: str) -> None:
    url = parse_database_url(database_url)
    migrate(url)
    engine = open_engine(url)
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    try:
        store = SqlTokenStore(engine)
        await asyncio.gather(*(store.insert_token(record(f"t{i}")) for i in range(60)))
        for i in range(60):
            assert await store.status(f"t{i}") == "active"
        assert len(commits) < 60  # shared transactions, not one per token
    finally:
        await engine.dispose()


async def test_a_failed_batch_fails_every_caller_in_it(sqlite_url: str) -> None:
    url = parse_database_url(sqlite_url)
    migrate(url)
    engine = open_engine(url)
    try:
        store = SqlTokenStore(engine)
        await store.insert_token(record("dup"))
        results = await asyncio.gather(
            store.insert_token(record("dup")),  # primary key clash: the batch is refused
            store.insert_token(record("fresh")),
            return_exceptions=True,
        )
        assert all(isinstance(r, Exception) for r in results)
        assert await store.status("fresh") == "unknown"  # nothing half-recorded
        await store.insert_token(record("fresh"))  # and the next batch works
        assert await store.status("fresh") == "active"
    finally:
        await engine.dispose()


@pytest.mark.parametrize("jti", ["", "x" * 64])
async def test_unknown_tokens_have_no_status(sqlite_url: str, jti: str) -> None:
    url = parse_database_url(sqlite_url)
    migrate(url)
    engine = open_engine(url)
    try:
        assert await SqlTokenStore(engine).status(jti) == "unknown"
    finally:
        await engine.dispose()


async def test_the_sqlite_reader_sees_revocations_at_once(sqlite_url: str) -> None:
    from warden.tokens.store.sqlite import SqliteTokenStore

    url = parse_database_url(sqlite_url)
    migrate(url)
    engine = open_engine(url)
    assert url.database_path is not None
    store = SqliteTokenStore(engine, url.database_path)
    try:
        assert await store.state("t1") == ("unknown", None)
        await store.insert_token(record("t1"))
        assert await store.state("t1") == ("active", "g-t1")
        await store.revoke_grant("g-t1", NOW)
        assert await store.state("t1") == ("revoked", "g-t1")
    finally:
        store.close()
        await engine.dispose()
