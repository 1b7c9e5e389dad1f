"""users.location: where a user works (remote or a named site), for working time by location;
report_intervals.callbacks_requested and callbacks_completed: callbacks per queue and interval

Revision ID: 0026_kpiday2
Revises: 0025_compress
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_kpiday2"
down_revision = "0025_compress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The ``location`` column of ``users`` (empty: not set) and the callback counters of
    ``report_intervals`` (0 until ``parley reports rebuild`` counts the callbacks already
    requested)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("location", sa.String(length=64), nullable=True))
    with op.batch_alter_table("report_intervals") as batch:
        for name in ("callbacks_requested", "callbacks_completed"):
            batch.add_column(sa.Column(name, sa.Integer(), server_default="0",
                                       nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("report_intervals") as batch:
        for name in ("callbacks_requested", "callbacks_completed"):
            batch.drop_column(name)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("location")
