"""quality: scorecards, and each call's automatic and reviewers' scores on them

Revision ID: 0022_quality
Revises: 0021_drafts
Create Date: 2026-12-03 08:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_quality"
down_revision = "0021_drafts"
branch_labels = None
depends_on = None

_CALL = ("interaction_id", sa.String(length=64))


def _call_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"], ondelete="CASCADE",
                                   name=op.f(f"fk_{table}_interaction_id_interactions"))


def upgrade() -> None:
    """``scorecards`` (configuration), ``quality_cards`` (a call scored on a scorecard),
    ``quality_marks`` (one score per criterion, automatic or a reviewer's) and
    ``quality_reviews`` (a reviewer's note)."""
    op.create_table(
        "scorecards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("campaigns", sa.JSON(), nullable=False),
        sa.Column("scripts", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecards")),
        sa.UniqueConstraint("name", name=op.f("uq_scorecards_name")),
    )
    op.create_table(
        "quality_cards",
        sa.Column(*_CALL, nullable=False),
        sa.Column("scorecard", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("campaign", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=64), nullable=False),
        sa.Column("call_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        _call_key("quality_cards"),
        sa.PrimaryKeyConstraint("interaction_id", "scorecard", name=op.f("pk_quality_cards")),
    )
    with op.batch_alter_table("quality_cards") as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_cards_operator"), ["operator"])
        batch_op.create_index(batch_op.f("ix_quality_cards_call_started_at"),
                              ["call_started_at"])
    op.create_table(
        "quality_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(*_CALL, nullable=False),
        sa.Column("scorecard", sa.String(length=64), nullable=False),
        sa.Column("criterion", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _call_key("quality_marks"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_marks")),
        sa.UniqueConstraint("interaction_id", "scorecard", "criterion", "reviewer",
                            name="uq_quality_marks_call_criterion_reviewer"),
    )
    with op.batch_alter_table("quality_marks") as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_marks_interaction_id"),
                              ["interaction_id"])
    op.create_table(
        "quality_reviews",
        sa.Column(*_CALL, nullable=False),
        sa.Column("scorecard", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _call_key("quality_reviews"),
        sa.PrimaryKeyConstraint("interaction_id", "scorecard", "reviewer",
                                name=op.f("pk_quality_reviews")),
    )


def downgrade() -> None:
    """Drop what this revision added."""
    for table in ("quality_reviews", "quality_marks", "quality_cards", "scorecards"):
        op.drop_table(table)
