"""The Alembic migrations build exactly the schema the code describes, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from warden.store.db import migrate, parse_database_url
from warden.store.schema import metadata


def test_migrated_database_matches_the_schema(database_url: str) -> None:
    url = parse_database_url(database_url)
    migrate(url)
    migrate(url)  # idempotent
    engine = create_engine(url.sync_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
