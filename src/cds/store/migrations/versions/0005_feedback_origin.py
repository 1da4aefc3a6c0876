"""The caller (issuer and tenant) each card was issued to and each feedback item came from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("card_audit", "feedback"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("issuer", sa.Text, nullable=True))
            batch.add_column(sa.Column("tenant", sa.Text, nullable=True))


def downgrade() -> None:
    for table in ("feedback", "card_audit"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
            batch.drop_column("issuer")
