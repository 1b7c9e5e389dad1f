"""dialog scripts, result code lists, and how operators closed their calls

Revision ID: 0012_scripts
Revises: 0011_campaigns
Create Date: 2026-12-02 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_scripts"
down_revision = "0011_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Scripts and result code lists are configuration; a queue names one of each. A call's
    wrap-up is one row (answers as JSON for the form) plus one typed row per answer (for
    reports and quality scores)."""
    op.create_table(
        "scripts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scripts")),
        sa.UniqueConstraint("name", name=op.f("uq_scripts_name")),
    )
    op.create_table(
        "result_code_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_code_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_result_code_lists_name")),
    )
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("script", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("result_codes", sa.String(length=64), nullable=True))
    op.create_table(
        "interaction_wrapups",
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("script", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=64), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saves", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], ondelete="CASCADE",
            name=op.f("fk_interaction_wrapups_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_interaction_wrapups")),
    )
    with op.batch_alter_table("interaction_wrapups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interaction_wrapups_script"), ["script"])
        batch_op.create_index(batch_op.f("ix_interaction_wrapups_result"), ["result"])
        batch_op.create_index(batch_op.f("ix_interaction_wrapups_saved_at"), ["saved_at"])
    op.create_table(
        "interaction_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("script", sa.String(length=64), nullable=False),
        sa.Column("block", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("text_value", sa.Text(), nullable=True),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("date_value", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"], ["interactions.id"], ondelete="CASCADE",
            name=op.f("fk_interaction_answers_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interaction_answers")),
    )
    with op.batch_alter_table("interaction_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interaction_answers_interaction_id"),
                              ["interaction_id"])
        batch_op.create_index("ix_interaction_answers_script_field", ["script", "field"])


def downgrade() -> None:
    op.drop_table("interaction_answers")
    op.drop_table("interaction_wrapups")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("result_codes")
        batch_op.drop_column("script")
    op.drop_table("result_code_lists")
    op.drop_table("scripts")
