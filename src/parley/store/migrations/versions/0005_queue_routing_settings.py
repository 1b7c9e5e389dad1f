"""queue routing settings, site reason codes, vip lists

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Queues get what the ACD already knew (maximum length, overflow target and rules,
    opening hours, teams, skill relaxing), the site its not-ready reason codes, number lists
    a VIP priority. Existing rows get values that change nothing. Lists of the kinds that
    never did anything but tag their numbers (allow, do_not_call, contacts) become 'tag'
    lists, which is what they were."""

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_length", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("overflow_target", sa.String(length=100), nullable=False,
                                      server_default="hangup"))
        batch_op.add_column(sa.Column("teams", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("hours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("overflow", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("relax", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_codes", sa.JSON(), nullable=True))

    with op.batch_alter_table("number_lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=True))
    op.execute("UPDATE number_lists SET kind = 'tag' "
               "WHERE kind IN ('allow', 'do_not_call', 'contacts')")


def downgrade() -> None:
    """Drop the columns added by this revision (tag lists stay tag lists)."""

    with op.batch_alter_table("number_lists", schema=None) as batch_op:
        batch_op.drop_column("priority")

    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("reason_codes")

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("relax")
        batch_op.drop_column("overflow")
        batch_op.drop_column("hours")
        batch_op.drop_column("teams")
        batch_op.drop_column("overflow_target")
        batch_op.drop_column("max_length")
