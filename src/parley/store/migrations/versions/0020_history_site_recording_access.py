"""history: which call recordings operators may play in the desk's contact history

Revision ID: 0020_history
Revises: 0019_console
Create Date: 2026-12-03 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_history"
down_revision = "0019_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The site's ``agents_hear_recordings`` (own, all or none; existing sites: own)."""
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agents_hear_recordings", sa.String(length=8),
                                      nullable=False, server_default="own"))


def downgrade() -> None:
    """Drop what this revision added."""
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("agents_hear_recordings")
