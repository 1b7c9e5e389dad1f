"""campaigns: outbound campaigns, their contacts and attempts, do-not-call lists

Revision ID: 0011_campaigns
Revises: 0010_sdes
Create Date: 2026-12-02 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_campaigns"
down_revision = "0010_sdes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Campaigns (settings, wanted and runtime status), contacts with their progress,
    every attempt, and do-not-call lists."""
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_by", sa.String(length=64), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=128), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("attempts_by_number", sa.JSON(), nullable=False),
        sa.Column("dead_numbers", sa.JSON(), nullable=False),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_agent", sa.String(length=64), nullable=True),
        sa.Column("dial_now", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_contacts")),
        sa.UniqueConstraint("campaign", "contact_id", name=op.f("uq_campaign_contacts_campaign")),
    )
    op.create_index("ix_campaign_contacts_open", "campaign_contacts", ["campaign", "status"])
    op.create_table(
        "campaign_attempts",
        sa.Column("attempt_id", sa.String(length=64), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=128), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("number_type", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trunk", sa.String(length=64), nullable=True),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sip_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("amd", sa.String(length=16), nullable=True),
        sa.Column("amd_cause", sa.String(length=64), nullable=True),
        sa.Column("operator", sa.String(length=64), nullable=True),
        sa.Column("talk_s", sa.Float(), nullable=True),
        sa.Column("disposition", sa.String(length=32), nullable=True),
        sa.Column("early_media", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_campaign_attempts")),
    )
    op.create_index("ix_campaign_attempts_contact", "campaign_attempts",
                    ["campaign", "contact_id"])
    op.create_index("ix_campaign_attempts_started", "campaign_attempts",
                    ["campaign", "started_at"])
    op.create_table(
        "dnc_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_dnc_lists_name")),
    )
    op.create_table(
        "dnc_numbers",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["dnc_lists.id"],
                                name=op.f("fk_dnc_numbers_list_id_dnc_lists"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("list_id", "number", name=op.f("pk_dnc_numbers")),
    )


def downgrade() -> None:
    op.drop_table("dnc_numbers")
    op.drop_table("dnc_lists")
    op.drop_index("ix_campaign_attempts_started", table_name="campaign_attempts")
    op.drop_index("ix_campaign_attempts_contact", table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    op.drop_index("ix_campaign_contacts_open", table_name="campaign_contacts")
    op.drop_table("campaign_contacts")
    op.drop_table("campaigns")
