"""Tokens: OAuth clients, signing keys, issued tokens, authorization codes, replay cache.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_WHEN = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(2048), primary_key=True),
        sa.Column("client_name", sa.String(200), nullable=False),
        sa.Column("auth_method", sa.String(40), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=True),
        sa.Column("jwks", sa.Text, nullable=True),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("agent_id", sa.String(2048), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(100), primary_key=True),
        sa.Column("use", sa.String(20), nullable=False),
        sa.Column("alg", sa.String(20), nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),
        sa.Column("certificate", sa.Text, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("retired_at", _WHEN, nullable=True),
        sa.Column("publish_until", _WHEN, nullable=True),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("subject", sa.String(2048), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("claims", sa.Text, nullable=False),
        sa.Column("jkt", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("issued_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("replaced_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_oauth_tokens_grant_id", "oauth_tokens", ["grant_id"])
    op.create_index("ix_oauth_tokens_token_hash", "oauth_tokens", ["token_hash"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(2048), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
    )
    op.create_table(
        "replay_cache",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False),
    )
    op.create_index("ix_replay_cache_expires_at", "replay_cache", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_replay_cache_expires_at", "replay_cache")
    op.drop_index("ix_oauth_tokens_token_hash", "oauth_tokens")
    op.drop_index("ix_oauth_tokens_grant_id", "oauth_tokens")
    for table in (
        "replay_cache",
        "authorization_codes",
        "oauth_tokens",
        "signing_keys",
        "oauth_clients",
    ):
        op.drop_table(table)
