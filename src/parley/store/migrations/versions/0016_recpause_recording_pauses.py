"""recpause: the gaps of a recording paused while a customer gave card details

Revision ID: 0016_recpause
Revises: 0015_dncrange
Create Date: 2026-12-03 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_recpause"
down_revision = "0015_dncrange"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Each recording's pauses: where the file holds silence, and who paused."""
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pauses", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("pauses")
