"""queue call handling, ready on register, voicemail call records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Queues get their call-handling policy (recording, ring timeout, announcements,
    callback offer, hold music), the site its ready-on-register switch, and voicemails the
    call record they were left in. Existing rows get the defaults, which change nothing."""

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recording", sa.String(length=16), nullable=False,
                                      server_default="none"))
        batch_op.add_column(sa.Column("ring_timeout_s", sa.Integer(), nullable=False,
                                      server_default="15"))
        batch_op.add_column(sa.Column("announce_every_s", sa.Integer(), nullable=False,
                                      server_default="30"))
        batch_op.add_column(sa.Column("callback_offer_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("music", sa.String(length=64), nullable=False,
                                      server_default="default"))

    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ready_on_register", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))

    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("interaction_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_voicemails_interaction_id"), ["interaction_id"],
                              unique=False)


def downgrade() -> None:
    """Drop the columns added by this revision."""

    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voicemails_interaction_id"))
        batch_op.drop_column("interaction_id")

    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("ready_on_register")

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("music")
        batch_op.drop_column("callback_offer_s")
        batch_op.drop_column("announce_every_s")
        batch_op.drop_column("ring_timeout_s")
        batch_op.drop_column("recording")
