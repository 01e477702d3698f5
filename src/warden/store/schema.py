"""Warden's relational schema, portable across SQLite and PostgreSQL (SQLAlchemy Core).

The Alembic migrations under ``migrations/`` create exactly these tables; a change here
needs a new migration there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

agents = Table(
    "agents",
    metadata,
    Column("id", String(2048), primary_key=True),  # SPIFFE ID
    Column("display_name", String(200), nullable=False),
    Column("owner", String(320), nullable=False),
    Column("team", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("risk_tier", String(20), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

tools = Table(
    "tools",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("description", Text, nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("destructive", Boolean, nullable=False),
    Column("external", Boolean, nullable=False),
    Column("labels", Text, nullable=False),  # JSON array of strings
    Column("input_schema", Text, nullable=True),  # JSON object
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

policy_revisions = Table(
    "policy_revisions",
    metadata,
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("created_at", String(40), nullable=False),
    Column("author", String(320), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("bundle", Text, nullable=False),  # JSON: the bundle's files
)

ledger = Table(
    "ledger",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("entry_id", String(64), nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON (RFC 8785)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
