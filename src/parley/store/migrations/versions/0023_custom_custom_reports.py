"""custom: saved custom reports and their scheduled exports

Revision ID: 0023_custom
Revises: 0022_quality
Create Date: 2026-12-03 08:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_custom"
down_revision = "0022_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The ``custom_reports`` and ``custom_report_schedules`` tables."""
    op.create_table(
        "custom_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("shared_with", sa.String(length=16), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_reports")),
    )
    op.create_index(op.f("ix_custom_reports_owner"), "custom_reports", ["owner"])
    op.create_table(
        "custom_report_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), server_default="", nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("last_file", sa.String(length=300), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["custom_reports.id"], ondelete="CASCADE",
            name=op.f("fk_custom_report_schedules_report_id_custom_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_report_schedules")),
    )
    op.create_index(op.f("ix_custom_report_schedules_report_id"),
                    "custom_report_schedules", ["report_id"])
    op.create_index(op.f("ix_custom_report_schedules_next_run_at"),
                    "custom_report_schedules", ["next_run_at"])


def downgrade() -> None:
    """Drop what this revision added."""
    op.drop_table("custom_report_schedules")
    op.drop_table("custom_reports")
