"""Governance: the calls answered, the labels of audited suggestions, the site's audit key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cds.store.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("answered_at", UtcDateTime, nullable=False),
        sa.Column("cards", sa.Integer, nullable=False),
        sa.Column("silent", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("service", "hook_instance", name="pk_calls"),
    )
    op.create_index("ix_calls_answered_at", "calls", ["answered_at"])
    op.create_table(
        "site_secret",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_site_secret"),
    )
    with op.batch_alter_table("card_audit") as batch:
        batch.add_column(sa.Column("suggestion_labels", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("card_audit") as batch:
        batch.drop_column("suggestion_labels")
    op.drop_table("site_secret")
    op.drop_table("calls")
