from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from session_helpers import ListSink
from sqlalchemy.ext.asyncio import AsyncEngine

from warden.sessions import SessionService
from warden.store.db import migrate, open_engine, parse_database_url


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("sessions") / "template.db"
    migrate(parse_database_url(f"sqlite:///{path}"))
    return path


@pytest.fixture
def sqlite_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "warden.db"
    shutil.copy(migrated_template, path)
    return path


@pytest.fixture
async def sqlite_engine(sqlite_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = open_engine(parse_database_url(f"sqlite:///{sqlite_path}"))
    yield engine
    await engine.dispose()


@pytest.fixture
def audit() -> ListSink:
    return ListSink()


@pytest.fixture
def sessions(sqlite_engine: AsyncEngine, audit: ListSink) -> SessionService:
    return SessionService(sqlite_engine, audit)
