"""live trunks: trunk kind and limits, inbound number source, the trunk a leg used

Revision ID: 0007_trunks
Revises: 0006_lang
Create Date: 2026-12-02 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_trunks"
down_revision = "0006_lang"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Trunks get their kind (from the older auth field), a calls-per-second cap, codecs,
    DTMF mode, registration expiry and keep-alive interval; where a trunk's inbound calls
    carry the dialled number gets its own table; a leg records the trunk it went through
    and its final SIP status."""

    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                      server_default="register"))
        batch_op.add_column(sa.Column("max_cps", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("codecs", sa.JSON(), nullable=False,
                                      server_default="[]"))
        batch_op.add_column(sa.Column("dtmf_mode", sa.String(length=16), nullable=False,
                                      server_default="rfc4733"))
        batch_op.add_column(sa.Column("expires", sa.Integer(), nullable=False,
                                      server_default="600"))
        batch_op.add_column(sa.Column("options_interval", sa.Integer(), nullable=False,
                                      server_default="30"))
    op.execute("UPDATE trunks SET kind = 'peer' WHERE auth = 'ip'")

    op.create_table(
        "trunk_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=False),
        sa.Column("number_from", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trunk_inbound")),
        sa.UniqueConstraint("trunk", name=op.f("uq_trunk_inbound_trunk")),
    )

    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trunk", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sip_status", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("legs", schema=None) as batch_op:
        batch_op.drop_column("sip_status")
        batch_op.drop_column("trunk")
    op.drop_table("trunk_inbound")
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        for column in ("options_interval", "expires", "dtmf_mode", "codecs", "max_cps",
                       "kind"):
            batch_op.drop_column(column)
