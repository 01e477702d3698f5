"""The SQL storage of SCIM Users and Groups keeps scim2-server's storage contract, on SQLite
and on PostgreSQL (the contract's own test kit: create, get, update, delete, versions,
uniqueness, filters, sorting and paging as scim2-models evaluates them).

The kit runs ~100 tests; each store is migrated once per module and emptied between tests.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from scim2_models import ScimProvider
from scim2_server.testing import AsyncScimStorageContract, BlockingStorage
from sqlalchemy import delete

from conftest import PG_ADMIN_URL
from warden.scim.store import SqlScimStorage
from warden.store.db import migrate, open_engine, parse_database_url
from warden.store.schema import scim_departed_people, scim_resources


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('scim')) / 'warden.db'}"
        migrate(parse_database_url(url))
        yield url
        return
    if not request.getfixturevalue("postgres_available"):
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable")
    name = f"warden_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        migrate(parse_database_url(url))
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class TestSqlScimStorage(AsyncScimStorageContract):
    @pytest.fixture
    def storage(self, migrated_url: str, provider: ScimProvider) -> Iterator[Any]:
        with asyncio.Runner() as runner:
            engine = open_engine(parse_database_url(migrated_url))
            try:
                yield BlockingStorage(SqlScimStorage(engine, provider), runner)
            finally:
                runner.run(_empty(engine))
                runner.run(engine.dispose())


async def _empty(engine: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(scim_resources))
        await conn.execute(delete(scim_departed_people))
