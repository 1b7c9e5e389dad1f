"""console: a queue's thresholds, where the supervisor console and the wallboard turn a
figure red and raise an alert

Revision ID: 0019_console
Revises: 0018_reports
Create Date: 2026-12-03 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_console"
down_revision = "0018_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Every queue gets an empty set of thresholds (none raised)."""
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("thresholds", sa.JSON(), nullable=False,
                                   server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("thresholds")
