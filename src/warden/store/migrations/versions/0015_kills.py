"""The kill switch: agents, sessions, chains, mandates and people stopped, and revived
(warden.kill).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "kills",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False, index=True),
        sa.Column("revived_at", _WHEN, nullable=True),
        sa.Column("revived_by", sa.String(320), nullable=True),
        sa.Column("revive_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_kills_target", "kills", ["kind", "target"])


def downgrade() -> None:
    op.drop_index("ix_kills_target", "kills")
    op.drop_table("kills")
