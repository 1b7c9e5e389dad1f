"""campaign_attempts: a partial index of the attempts with no end yet, which a starting
dialer closes as cut short (a node stopped or failed while they were under way)

Revision ID: 0033_open_attempts
Revises: 0032_ha_nodes
Create Date: 2026-12-05 09:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033_open_attempts"
down_revision = "0032_ha_nodes"
branch_labels = None
depends_on = None

OPEN = sa.text("ended_at IS NULL")


def upgrade() -> None:
    """Found at every start without reading every attempt ever made."""
    op.create_index("ix_campaign_attempts_open", "campaign_attempts", ["started_at"],
                    sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_campaign_attempts_open", table_name="campaign_attempts")
