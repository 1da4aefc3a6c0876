"""The first schema: feedback, the record of used JWT ids and the card audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cds.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("outcome_timestamp", sa.Text, nullable=False),
        sa.Column("accepted_suggestions", sa.Text, nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("item_key", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("item_key", name="uq_feedback_item_key"),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])

    op.create_table(
        "used_jti",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_used_jti"),
    )
    op.create_index("ix_used_jti_expires_at", "used_jti", ["expires_at"])

    op.create_table(
        "card_audit",
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("indicator", sa.String(20), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("suggestion_uuids", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("card_uuid", name="pk_card_audit"),
        sa.CheckConstraint("mode IN ('active', 'silent')", name="ck_card_audit_mode"),
    )
    op.create_index("ix_card_audit_issued_at", "card_audit", ["issued_at"])
    op.create_index("ix_card_audit_service_topic", "card_audit", ["service", "topic"])


def downgrade() -> None:
    op.drop_table("card_audit")
    op.drop_table("used_jti")
    op.drop_table("feedback")
