"""Delegation chains (warden.chains) and the ledger's index for accountability queries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "chain_hops",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("chain_id", sa.String(64), nullable=False, index=True),
        sa.Column("parent_id", sa.String(64), nullable=True, index=True),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("person", sa.String(320), nullable=False, index=True),
        sa.Column("from_party", sa.String(2048), nullable=False),
        sa.Column("to_agent", sa.String(2048), nullable=False, index=True),
        sa.Column("mandate_id", sa.String(64), nullable=False),
        sa.Column("root_mandate_id", sa.String(64), nullable=False, index=True),
        sa.Column("exchange_jti", sa.String(64), nullable=True),
        sa.Column("task", sa.Text, nullable=False),
        sa.Column("tools", sa.Text, nullable=True),
        sa.Column("limits", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("entry_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "ledger_index",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("person", sa.String(320), nullable=True),
        sa.Column("chain_id", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(2048), nullable=True),
    )
    op.create_index("ix_ledger_index_person_time", "ledger_index", ["person", "recorded_at"])
    op.create_index("ix_ledger_index_chain", "ledger_index", ["chain_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_ledger_index_chain", "ledger_index")
    op.drop_index("ix_ledger_index_person_time", "ledger_index")
    op.drop_table("ledger_index")
    op.drop_table("chain_hops")
