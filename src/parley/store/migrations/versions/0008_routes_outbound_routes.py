"""outbound routes, the site's region and outside-line rights, caller IDs, trunk numbering

Revision ID: 0006_routes
Revises: 0005
Create Date: 2026-12-02 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_routes"
down_revision = "0007_trunks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A routes table; the site's default region, outside-line rights per role and blocked
    destinations; users' outside-line right and caller ID; queues' caller ID; how each trunk
    wants the called number. Existing rows get values that change nothing (no region: numbers
    are kept as written, the default rights, E.164 to every trunk)."""

    op.create_table(
        "routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("match", sa.String(length=200), nullable=False),
        sa.Column("trunks", sa.JSON(), nullable=False),
        sa.Column("caller_id", sa.String(length=32), nullable=True),
        sa.Column("caller_id_rules", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("name", name=op.f("uq_routes_name")),
    )
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_region", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("outside_line", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("blocked_destinations", sa.JSON(), nullable=False,
                                      server_default="[]"))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outside_line", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("caller_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caller_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number_format", sa.String(length=16), nullable=False,
                                      server_default="e164"))
        batch_op.add_column(sa.Column("strip", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("prepend", sa.String(length=32), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    """Drop what this revision added."""

    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.drop_column("prepend")
        batch_op.drop_column("strip")
        batch_op.drop_column("number_format")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("caller_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("caller_id")
        batch_op.drop_column("outside_line")
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("blocked_destinations")
        batch_op.drop_column("outside_line")
        batch_op.drop_column("default_region")
    op.drop_table("routes")
