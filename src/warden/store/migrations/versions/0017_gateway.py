"""Gateway connections: upstream MCP servers and HTTP APIs, with their secrets encrypted at
rest (warden.gateway.connections).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "gateway_connections",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("protocol", sa.String(10), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("auth", sa.String(40), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("routes", sa.Text, nullable=False),
        sa.Column("tool_prefix", sa.String(200), nullable=False, server_default=""),
        sa.Column("limits", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gateway_connections")
