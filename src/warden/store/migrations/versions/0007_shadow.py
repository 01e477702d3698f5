"""Shadow agents: sightings of unregistered or inactive actors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "shadow_sightings",
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("identifier", sa.Text, nullable=False),
        sa.Column("first_seen", _WHEN, nullable=False),
        sa.Column("last_seen", _WHEN, nullable=False),
        sa.Column("seen_count", sa.BigInteger, nullable=False),
        sa.Column("surfaces", sa.Text, nullable=False),
        sa.Column("tools", sa.Text, nullable=False),
        sa.Column("humans", sa.Text, nullable=False),
        sa.Column("registry_status", sa.String(20), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("status_by", sa.String(320), nullable=True),
        sa.Column("status_at", _WHEN, nullable=True),
        sa.Column("agent_id", sa.String(2048), nullable=True),
    )
    op.create_index("ix_shadow_sightings_status", "shadow_sightings", ["status"])


def downgrade() -> None:
    op.drop_index("ix_shadow_sightings_status", "shadow_sightings")
    op.drop_table("shadow_sightings")
