"""Mandates: issued mandates and their cumulative budgets.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "mandates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("person", sa.String(320), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("profile", sa.String(100), nullable=True),
        sa.Column("profile_version", sa.Integer, nullable=True),
        sa.Column("confidence", sa.String(20), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("issued_by", sa.String(320), nullable=False),
        sa.Column("issued_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("audience", sa.String(255), nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
    )
    op.create_index("ix_mandates_person", "mandates", ["person"])
    op.create_table(
        "mandate_budgets",
        sa.Column("mandate_id", sa.String(64), primary_key=True),
        sa.Column("budget", sa.String(100), primary_key=True),
        sa.Column("spent", sa.String(40), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mandate_budgets")
    op.drop_index("ix_mandates_person", "mandates")
    op.drop_table("mandates")
