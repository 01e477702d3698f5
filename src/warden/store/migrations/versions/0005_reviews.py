"""Access reviews: campaigns and their items.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)
_PERSON = sa.String(320)


def upgrade() -> None:
    op.create_table(
        "review_campaigns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope_kind", sa.String(20), nullable=False),
        sa.Column("scope_value", _PERSON, nullable=True),
        sa.Column("deadline", _WHEN, nullable=False),
        sa.Column("on_deadline", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("opened_by", _PERSON, nullable=False),
        sa.Column("opened_at", _WHEN, nullable=False),
        sa.Column("closed_by", _PERSON, nullable=True),
        sa.Column("closed_at", _WHEN, nullable=True),
    )
    op.create_index("ix_review_campaigns_state", "review_campaigns", ["state"])
    op.create_table(
        "review_items",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("agent_id", sa.String(2048), nullable=False),
        sa.Column("agent_name", sa.String(200), nullable=False),
        sa.Column("entitlement_id", sa.String(100), nullable=True),
        sa.Column("action", sa.Text, nullable=True),
        sa.Column("resource_type", sa.Text, nullable=True),
        sa.Column("resource_id", sa.Text, nullable=True),
        sa.Column("justification", sa.Text, nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("decided_by", _PERSON, nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("effect", sa.String(40), nullable=True),
    )
    op.create_table(
        "review_reviewers",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("reviewer", _PERSON, primary_key=True),
    )
    op.create_index("ix_review_reviewers_reviewer", "review_reviewers", ["reviewer"])


def downgrade() -> None:
    op.drop_index("ix_review_reviewers_reviewer", "review_reviewers")
    op.drop_table("review_reviewers")
    op.drop_table("review_items")
    op.drop_index("ix_review_campaigns_state", "review_campaigns")
    op.drop_table("review_campaigns")
