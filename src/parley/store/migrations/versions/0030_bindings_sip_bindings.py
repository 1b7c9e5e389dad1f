"""sip_bindings: the registrar's registered contacts, so that a restarted node or a standby
taking over still reaches the phones without waiting for them to register again

Revision ID: 0030_bindings
Revises: 0029_lease
Create Date: 2026-12-03 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_bindings"
down_revision = "0029_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per registered contact of an address of record, replaced on each refresh."""
    op.create_table(
        "sip_bindings",
        sa.Column("aor", sa.String(length=255), primary_key=True),
        sa.Column("contact_key", sa.String(length=512), primary_key=True),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("q", sa.Float(), nullable=False, server_default="1"),
        sa.Column("call_id", sa.String(length=255), nullable=False, server_default=""),
        sa.Column("cseq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_host", sa.String(length=255), nullable=True),
        sa.Column("source_port", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=8), nullable=True),
    )
    op.create_index("ix_sip_bindings_expires_at", "sip_bindings", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sip_bindings_expires_at", table_name="sip_bindings")
    op.drop_table("sip_bindings")
