"""Shared Signals (SSF 1.0, CAEP 1.0): transmitter streams, their event outbox, and events
received from identity providers (warden.ssf).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "ssf_streams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("events_requested", sa.Text, nullable=False),
        sa.Column("events_delivered", sa.Text, nullable=False),
        sa.Column("delivery_method", sa.String(40), nullable=False),
        sa.Column("endpoint_url", sa.Text, nullable=True),
        sa.Column("authorization_header", sa.Text, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "ssf_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _WHEN, nullable=True),
        sa.Column("delivered_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_ssf_outbox_pending", "ssf_outbox", ["stream_id", "delivered_at", "seq"])
    op.create_table(
        "ssf_received",
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("issuer", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("received_at", _WHEN, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ssf_received")
    op.drop_index("ix_ssf_outbox_pending", "ssf_outbox")
    op.drop_table("ssf_outbox")
    op.drop_table("ssf_streams")
