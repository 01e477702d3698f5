"""Observations: tool results reported by enforcement points, for provenance.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # tables arrive with the feature


def downgrade() -> None:
    pass
