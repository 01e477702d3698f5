"""Step-up approvals bound to the hash of the held action (warden.approvals).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("action_hash", sa.String(64), nullable=False, index=True),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(2048), nullable=False, index=True),
        sa.Column("person", sa.String(320), nullable=True, index=True),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("mandate_id", sa.String(64), nullable=True),
        sa.Column("chain_id", sa.String(64), nullable=True, index=True),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("held", sa.Text, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("separation_of_duties", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False, index=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("status_reason", sa.Text, nullable=False, server_default=""),
    )
    op.create_table(
        "approval_votes",
        sa.Column("approval_id", sa.String(64), primary_key=True),
        sa.Column("approver", sa.String(320), primary_key=True),
        sa.Column("vote", sa.String(10), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("approval_votes")
    op.drop_table("approval_requests")
