"""aht: the queue and call a wrap-up follows, and queues' wrap-up seconds and overflows

Revision ID: 0028_aht
Revises: 0027_prompts
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028_aht"
down_revision = "0027_prompts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """``queue`` and ``interaction_id`` on the operator state log (set on a wrap-up of a
    queue's call, null otherwise), and the ``wrap_up_s`` and ``overflowed`` counters of the
    interval aggregates (zero until ``parley reports rebuild``)."""
    with op.batch_alter_table("operator_state_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("interaction_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("report_intervals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wrap_up_s", sa.Float(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("overflowed", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    """Drop what this revision added."""
    with op.batch_alter_table("report_intervals", schema=None) as batch_op:
        batch_op.drop_column("overflowed")
        batch_op.drop_column("wrap_up_s")
    with op.batch_alter_table("operator_state_log", schema=None) as batch_op:
        batch_op.drop_column("interaction_id")
        batch_op.drop_column("queue")
