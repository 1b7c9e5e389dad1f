"""reports: 15-minute interval aggregates and operator state time; the site's short-abandon
threshold

Revision ID: 0018_reports
Revises: 0017_inbound
Create Date: 2026-12-03 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_reports"
down_revision = "0017_inbound"
branch_labels = None
depends_on = None

COUNTS = ("calls", "inbound", "outbound", "offered", "answered", "abandoned",
          "abandoned_short", "answered_within", "abandoned_within")
SECONDS = ("wait_answered_s", "wait_abandoned_s", "talk_s", "duration_s")
MORE_COUNTS = ("transfers", "attempts", "live_answers", "machines", "amd_human",
               "amd_machine", "amd_unknown")


def upgrade() -> None:
    """The aggregate tables (empty: ``parley reports rebuild`` fills them from the call
    records already stored) and ``site.short_abandon_s`` (5 s)."""
    op.create_table(
        "report_intervals",
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in COUNTS],
        *[sa.Column(name, sa.Float(), nullable=False, server_default="0")
          for name in SECONDS],
        *[sa.Column(name, sa.Integer(), nullable=False, server_default="0")
          for name in MORE_COUNTS],
        sa.PrimaryKeyConstraint("dimension", "interval_start", "key",
                                name=op.f("pk_report_intervals")),
    )
    op.create_table(
        "report_state_time",
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("interval_start", "operator", "state", "reason",
                                name=op.f("pk_report_state_time")),
    )
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("short_abandon_s", sa.Integer(), nullable=False,
                                      server_default="5"))


def downgrade() -> None:
    """Drop what this revision added."""
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("short_abandon_s")
    op.drop_table("report_state_time")
    op.drop_table("report_intervals")
