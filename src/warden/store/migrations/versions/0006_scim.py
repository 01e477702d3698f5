"""SCIM 2.0: people and groups from the IdP.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # tables arrive with the feature


def downgrade() -> None:
    pass
