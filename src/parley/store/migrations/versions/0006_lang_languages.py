"""the caller's and the user's language: numbers, queues and users get a language

Revision ID: 0006_lang
Revises: 0005
Create Date: 2026-12-02 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lang"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A nullable language on numbers and queues (the caller's) and users (the pages'); NULL
    keeps what existing rows did: the flow's or the site's language."""

    for table in ("numbers", "queues", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    """Drop the language columns."""

    for table in ("users", "queues", "numbers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("language")
