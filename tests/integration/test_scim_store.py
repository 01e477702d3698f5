"""The SQL storage of SCIM Users and Groups keeps scim2-server's storage contract, on SQLite
and on PostgreSQL (the contract's own test kit: create, get, update, delete, versions,
uniqueness, filters, sorting and paging as scim2-models evaluates them)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from scim2_models import ScimProvider
from scim2_server.testing import AsyncScimStorageContract, BlockingStorage

from warden.scim.store import SqlScimStorage
from warden.store.db import migrate, open_engine, parse_database_url


class TestSqlScimStorage(AsyncScimStorageContract):
    @pytest.fixture
    def storage(self, database_url: str, provider: ScimProvider) -> Iterator[Any]:
        url = parse_database_url(database_url)
        migrate(url)
        with asyncio.Runner() as runner:
            engine = open_engine(url)
            try:
                yield BlockingStorage(SqlScimStorage(engine, provider), runner)
            finally:
                runner.run(engine.dispose())
