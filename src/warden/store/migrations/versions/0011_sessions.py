"""Sessions: one summary per session (one agent under one mandate), with its suspension.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(28), primary_key=True),
        sa.Column("agent", sa.String(2048), nullable=False),
        sa.Column("mandate", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status_by", sa.String(320), nullable=True),
        sa.Column("status_at", _WHEN, nullable=True),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("last_at", _WHEN, nullable=True),
        sa.Column("actions", sa.BigInteger, nullable=False),
        sa.Column("denied", sa.BigInteger, nullable=False),
        sa.Column("observations", sa.BigInteger, nullable=False),
        sa.Column("tools_used", sa.Text, nullable=False),
        sa.Column("labels_seen", sa.Text, nullable=False),
        sa.Column("labels_changed", sa.Text, nullable=False),
        sa.Column("destinations", sa.Text, nullable=False),
        sa.Column("drift", sa.Integer, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_sessions_agent", "sessions", ["agent"])
    op.create_index("ix_sessions_status", "sessions", ["status"])
    op.create_index("ix_sessions_updated_at", "sessions", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_updated_at", "sessions")
    op.drop_index("ix_sessions_status", "sessions")
    op.drop_index("ix_sessions_agent", "sessions")
    op.drop_table("sessions")
