"""drafts: a call's script answers kept when it is handed on before its wrap-up

Revision ID: 0021_drafts
Revises: 0020_history
Create Date: 2026-12-03 06:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_drafts"
down_revision = "0020_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The ``interaction_script_drafts`` table (one row per call handed on)."""
    op.create_table(
        "interaction_script_drafts",
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], ondelete="CASCADE",
            name=op.f("fk_interaction_script_drafts_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_interaction_script_drafts")),
    )


def downgrade() -> None:
    """Drop what this revision added."""
    op.drop_table("interaction_script_drafts")
