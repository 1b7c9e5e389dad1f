"""journal marks: how far each recorder has applied the event journal

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per recorder: the last journal entry applied and the first to read again."""
    op.create_table(
        "journal_marks",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), nullable=False),
        sa.Column("replay_from", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", name=op.f("pk_journal_marks")),
    )


def downgrade() -> None:
    """Drop the table added by this revision."""
    op.drop_table("journal_marks")
