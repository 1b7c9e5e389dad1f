"""ha_lease: the active/standby lease of a cluster of nodes on PostgreSQL (hot standby)

Revision ID: 0029_lease
Revises: 0028_aht
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029_lease"
down_revision = "0028_aht"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per cluster, made by the first node that watches it (SQLite has the table but
    never uses it: a SQLite node is single)."""
    op.create_table(
        "ha_lease",
        sa.Column("cluster", sa.String(length=64), primary_key=True),
        sa.Column("holder", sa.String(length=128), nullable=False, server_default=""),
        sa.Column("token", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_holder", sa.String(length=128), nullable=True),
        sa.Column("previous_renewed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ha_lease")
