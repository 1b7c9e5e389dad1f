"""ldap: directory users (sign-in through LDAP) and recording retention

Revision ID: 0024_ldap
Revises: 0023_custom
Create Date: 2026-12-03 08:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_ldap"
down_revision = "0023_custom"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """``users.directory``, ``recordings.deleted_at`` and the ``recording_retention``
    table."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("directory", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(op.f("ix_recordings_deleted_at"), ["deleted_at"], unique=False)
    op.create_table(
        "recording_retention",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("keep_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_recording_retention")),
    )


def downgrade() -> None:
    """Drop what this revision added."""
    op.drop_table("recording_retention")
    with op.batch_alter_table("recordings") as batch:
        batch.drop_index(op.f("ix_recordings_deleted_at"))
        batch.drop_column("deleted_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("directory")
