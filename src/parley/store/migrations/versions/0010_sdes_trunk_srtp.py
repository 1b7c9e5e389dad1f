"""trunks: SRTP keyed by SDES (a=crypto) toward the carrier

Revision ID: 0010_sdes
Revises: 0009_trunktls
Create Date: 2026-12-02 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_sdes"
down_revision = "0009_trunktls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A trunk may offer or require SRTP (SDES) on its calls; existing trunks stay plain."""
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("srtp", sa.String(length=16), nullable=False,
                                      server_default="off"))


def downgrade() -> None:
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.drop_column("srtp")
