"""prompts: uploaded and typed prompts in the store (each node mirrors them to its disk)

Revision ID: 0027_prompts
Revises: 0026_kpiday2
Create Date: 2026-12-03 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027_prompts"
down_revision = "0026_kpiday2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The ``prompts`` table; a node takes the prompt files it already has into it at its
    first start after the upgrade (parley.store.prompts)."""
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("audio", sa.LargeBinary(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("language", "name", name=op.f("uq_prompts_language")),
    )


def downgrade() -> None:
    op.drop_table("prompts")
