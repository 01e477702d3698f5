"""SCIM 2.0: people and groups from the IdP.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "scim_resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("user_name", sa.String(512), nullable=True, unique=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("external_id", sa.String(512), nullable=True),
        sa.Column("display_name", sa.String(512), nullable=True),
        sa.Column("active", sa.Boolean, nullable=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    for column in ("resource_type", "email", "external_id", "display_name"):
        op.create_index(f"ix_scim_resources_{column}", "scim_resources", [column])
    op.create_table(
        "scim_departed_people",
        sa.Column("person", sa.String(320), primary_key=True),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("deleted_at", _WHEN, nullable=False),
    )
    op.create_table(
        "scim_agents",
        sa.Column("agent_id", sa.String(2048), primary_key=True),
        sa.Column("external_id", sa.String(512), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("scim_agents")
    op.drop_table("scim_departed_people")
    for column in ("resource_type", "email", "external_id", "display_name"):
        op.drop_index(f"ix_scim_resources_{column}", "scim_resources")
    op.drop_table("scim_resources")
