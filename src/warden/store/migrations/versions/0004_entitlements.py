"""Entitlements: grants of tools/actions to agents, provisioning templates.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "entitlements",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(2048), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("resource_type", sa.String(200), nullable=False),
        sa.Column("resource_id", sa.String(2048), nullable=False),
        sa.Column("justification", sa.Text, nullable=False),
        sa.Column("granted_by", sa.String(320), nullable=False),
        sa.Column("granted_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("template", sa.String(100), nullable=True),
        sa.Column("changed_by", sa.String(320), nullable=True),
        sa.Column("changed_at", _WHEN, nullable=True),
        sa.Column("change_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_entitlements_agent_id", "entitlements", ["agent_id"])
    op.create_index("ix_entitlements_state", "entitlements", ["state"])


def downgrade() -> None:
    op.drop_index("ix_entitlements_state", "entitlements")
    op.drop_index("ix_entitlements_agent_id", "entitlements")
    op.drop_table("entitlements")
