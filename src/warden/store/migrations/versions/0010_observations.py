"""Observations: tool results reported by enforcement points, for provenance.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("mandate_id", sa.String(64), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("agent", sa.String(2048), nullable=True),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("injected", sa.Boolean, nullable=False),
        sa.Column("value_count", sa.Integer, nullable=False),
        sa.Column("digests", sa.Text, nullable=False),
        sa.Column("observed_at", _WHEN, nullable=False),
    )
    op.create_index("ix_observations_mandate_id", "observations", ["mandate_id"])
    op.create_index("ix_observations_observed_at", "observations", ["observed_at"])
    op.create_table(
        "observation_keys",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("observation_keys")
    op.drop_index("ix_observations_observed_at", "observations")
    op.drop_index("ix_observations_mandate_id", "observations")
    op.drop_table("observations")
