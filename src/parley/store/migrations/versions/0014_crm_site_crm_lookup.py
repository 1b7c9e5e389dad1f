"""crm: where the desk's card looks up callers unknown to Parley

Revision ID: 0014_crm
Revises: 0013_desk
Create Date: 2026-12-03 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_crm"
down_revision = "0013_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """The site's CRM look-up (a JSON document; none until an admin sets one)."""
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crm_lookup", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop what this revision added."""
    with op.batch_alter_table("site", schema=None) as batch_op:
        batch_op.drop_column("crm_lookup")
