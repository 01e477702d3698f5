"""Opening the database: URL handling, SQLite pragmas, migrations.

``WARDEN_DATABASE_URL`` takes ``sqlite:///path`` (the embedded default) or
``postgresql://user@host/db``; the async driver (aiosqlite, asyncpg) is chosen here so
services never see a driver name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from warden.store.errors import StoreError, UnsupportedDatabaseURL

DEFAULT_DATABASE_URL = "sqlite:///./.warden/warden.db"
_MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class DatabaseURL:
    """A database URL split into the async (service) and sync (migration) forms."""

    raw: str
    async_url: str
    sync_url: str
    dialect: str
    database_path: str | None = None  # SQLite's file, None for PostgreSQL or :memory:


def parse_database_url(raw: str | None = None) -> DatabaseURL:
    """Parse ``raw`` (or ``WARDEN_DATABASE_URL``, or the default) into driver URLs."""
    raw = raw or os.environ.get("WARDEN_DATABASE_URL") or DEFAULT_DATABASE_URL
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in it
        raise UnsupportedDatabaseURL("database url is not a valid url") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = None
        if url.database and url.database != ":memory:":
            path = str(Path(url.database).expanduser())
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder for `{path}`: {exc.strerror}") from exc
        return DatabaseURL(
            raw,
            url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False),
            url.set(drivername="sqlite").render_as_string(hide_password=False),
            "sqlite",
            path,
        )
    if backend in ("postgresql", "postgres"):
        return DatabaseURL(
            raw,
            url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
            url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            "postgresql",
        )
    raise UnsupportedDatabaseURL(f"unsupported database `{backend}`: use sqlite or postgresql")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed ledger entry survives power loss; group commit amortises the fsync.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(url: DatabaseURL) -> None:
    """Bring the database schema to the newest migration (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    engine = create_engine(url.sync_url)
    if url.dialect == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreError(f"could not migrate the {url.dialect} database: {first_line}") from exc
    finally:
        engine.dispose()


def open_engine(url: DatabaseURL) -> AsyncEngine:
    """An async engine for ``url`` with Warden's connection settings."""
    if url.dialect == "sqlite":
        engine = create_async_engine(url.async_url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout (it halved token throughput).
    # A connection the server dropped fails its statement once; SQLAlchemy then invalidates
    # the pool, and the decision path turns that failure into a deny, never an allow.
    return create_async_engine(url.async_url, pool_size=20, max_overflow=10, pool_recycle=1800)
