"""trunks over TLS: sips URIs, the CA file, a client certificate and its key

Revision ID: 0009_trunktls
Revises: 0008_routes
Create Date: 2026-12-02 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_trunktls"
down_revision = "0008_routes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A trunk over TLS may ask for sips: URIs, name the CAs that sign its carrier's
    certificate and present a client certificate."""
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sips", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("tls_ca_file", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("tls_cert_file", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("tls_key_file", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trunks", schema=None) as batch_op:
        for column in ("tls_key_file", "tls_cert_file", "tls_ca_file", "sips"):
            batch_op.drop_column(column)
