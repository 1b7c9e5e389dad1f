"""dncrange: do-not-call numbers know where they came from; the site's number-range table

Revision ID: 0015_dncrange
Revises: 0014_crm
Create Date: 2026-12-03 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_dncrange"
down_revision = "0014_crm"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """``dnc_numbers.source``: ``config`` (the provisioning file or the API's list, replaced
    by a re-import) or ``opt_out`` (a customer asked: only ever added), with when and why;
    ``number_ranges``: the site's table of number ranges to regions and zones, kept as the
    CSV that was uploaded."""
    with op.batch_alter_table("dnc_numbers") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=False,
                                   server_default="config"))
        batch.add_column(sa.Column("added_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("note", sa.String(length=200), nullable=False,
                                   server_default=""))
    op.create_table(
        "number_ranges",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("csv", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_number_ranges")),
    )


def downgrade() -> None:
    op.drop_table("number_ranges")
    with op.batch_alter_table("dnc_numbers") as batch:
        batch.drop_column("note")
        batch.drop_column("added_at")
        batch.drop_column("source")
