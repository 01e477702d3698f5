"""Behavioural baselines: what each agent and purpose profile normally does (warden.behavior).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("subject", sa.String(2048), primary_key=True),
        sa.Column("frozen", sa.Boolean, nullable=False),
        sa.Column("actions", sa.Integer, nullable=False),
        sa.Column("first_at", _WHEN, nullable=True),
        sa.Column("last_at", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("baselines")
