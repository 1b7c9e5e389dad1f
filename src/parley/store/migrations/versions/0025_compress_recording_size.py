"""compress: the size of a recording's or voicemail's file once compressed to FLAC

Revision ID: 0025_compress
Revises: 0024_ldap
Create Date: 2026-12-03 08:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_compress"
down_revision = "0024_ldap"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """``size_bytes`` on recordings and voicemails (null: an uncompressed WAV)."""
    for table in ("recordings", "voicemails"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop what this revision added."""
    for table in ("recordings", "voicemails"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("size_bytes")
