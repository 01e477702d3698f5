"""A throwaway PostgreSQL database for a benchmark run."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg


@contextlib.contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    """A fresh database on ``server_url``'s server, dropped afterwards."""
    name = f"warden_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
