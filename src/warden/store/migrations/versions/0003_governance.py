"""Identity governance: agent lifecycle columns, co-owners, Warden's own access tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("expires_at", _WHEN, nullable=True))
        batch.add_column(sa.Column("status_reason", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("last_active_at", _WHEN, nullable=True))
    # The inventory filters and sorts on these.
    for column in ("owner", "team", "status", "display_name", "last_active_at"):
        op.create_index(f"ix_agents_{column}", "agents", [column])
    op.create_table(
        "agent_owners",
        sa.Column("agent_id", sa.String(2048), primary_key=True),
        sa.Column("owner", sa.String(320), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_agent_owners_owner", "agent_owners", ["owner"])
    # Every existing agent's owner becomes its primary owner.
    op.execute(
        "INSERT INTO agent_owners (agent_id, owner, position) SELECT id, owner, 0 FROM agents"
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("person", sa.String(320), nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("revoked_at", _WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_index("ix_agent_owners_owner", "agent_owners")
    op.drop_table("agent_owners")
    for column in ("owner", "team", "status", "display_name", "last_active_at"):
        op.drop_index(f"ix_agents_{column}", "agents")
    with op.batch_alter_table("agents") as batch:
        for column in ("last_active_at", "status_reason", "expires_at", "purpose"):
            batch.drop_column(column)
