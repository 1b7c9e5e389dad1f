"""ha_nodes: each node of a hot-standby cluster checks in while it stands by, so that the
active node knows a standby is there before it hands its calls over (a planned switch-over)

Revision ID: 0032_ha_nodes
Revises: 0031_live_calls
Create Date: 2026-12-04 21:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032_ha_nodes"
down_revision = "0031_live_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per node of a cluster: when it last checked in as the standby."""
    op.create_table(
        "ha_nodes",
        sa.Column("cluster", sa.String(length=64), primary_key=True),
        sa.Column("node", sa.String(length=128), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ha_nodes")
