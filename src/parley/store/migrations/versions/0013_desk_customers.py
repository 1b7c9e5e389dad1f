"""desk: customers found by number, and the card saved with each interaction

Revision ID: 0013_desk
Revises: 0012_scripts
Create Date: 2026-12-02 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_desk"
down_revision = "0012_scripts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Customers (name, status, custom fields), their numbers in E.164, and the card an
    operator saved on a call."""
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "customer_numbers",
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_customer_numbers_customer_id_customers")),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_customer_numbers")),
    )
    op.create_index(op.f("ix_customer_numbers_customer_id"), "customer_numbers",
                    ["customer_id"])
    op.create_table(
        "interaction_cards",
        sa.Column("interaction_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_interaction_cards")),
    )
    op.create_index(op.f("ix_interaction_cards_customer_id"), "interaction_cards",
                    ["customer_id"])
    op.create_index(op.f("ix_interaction_cards_number"), "interaction_cards", ["number"])


def downgrade() -> None:
    op.drop_table("interaction_cards")
    op.drop_table("customer_numbers")
    op.drop_table("customers")
