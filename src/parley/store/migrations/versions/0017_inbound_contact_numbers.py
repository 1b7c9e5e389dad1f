"""inbound: campaign contacts' numbers indexed, so a caller is found among open tasks

Revision ID: 0017_inbound
Revises: 0016_recpause
Create Date: 2026-12-03 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_inbound"
down_revision = "0016_recpause"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per number of every campaign contact (filled from the contacts already
    stored), indexed by number."""
    op.create_table(
        "campaign_contact_numbers",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "contact_id", "number",
                                name=op.f("pk_campaign_contact_numbers")),
    )
    op.create_index("ix_campaign_contact_numbers_number", "campaign_contact_numbers",
                    ["number"])
    contacts = sa.table("campaign_contacts", sa.column("campaign", sa.String),
                        sa.column("contact_id", sa.String), sa.column("numbers", sa.JSON))
    numbers = sa.table("campaign_contact_numbers", sa.column("campaign", sa.String),
                       sa.column("contact_id", sa.String), sa.column("number", sa.String))
    connection = op.get_bind()
    rows = []
    for campaign, contact_id, listed in connection.execute(
            sa.select(contacts.c.campaign, contacts.c.contact_id, contacts.c.numbers)):
        for number in dict.fromkeys(str(item["number"]) for item in listed or ()):
            rows.append({"campaign": campaign, "contact_id": contact_id, "number": number})
    if rows:
        op.bulk_insert(numbers, rows)


def downgrade() -> None:
    op.drop_index("ix_campaign_contact_numbers_number", table_name="campaign_contact_numbers")
    op.drop_table("campaign_contact_numbers")
