"""live_calls: the answered two-party calls the active node relays, so that a standby
taking over carries them on; journal_marks.consumer longer, to name the node too (each node
of a cluster has a journal of its own)

Revision ID: 0031_live_calls
Revises: 0030_bindings
Create Date: 2026-12-04 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_live_calls"
down_revision = "0030_bindings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per relayed call (its bridge), replaced as it changes, deleted at its end."""
    with op.batch_alter_table("journal_marks") as batch:  # SQLite: the table copied
        batch.alter_column("consumer", type_=sa.String(length=200),
                           existing_type=sa.String(length=64), existing_nullable=False)
    op.create_table(
        "live_calls",
        sa.Column("bridge_id", sa.String(length=64), primary_key=True),
        sa.Column("interaction_id", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_calls")
    with op.batch_alter_table("journal_marks") as batch:
        batch.alter_column("consumer", type_=sa.String(length=64),
                           existing_type=sa.String(length=200), existing_nullable=False)
