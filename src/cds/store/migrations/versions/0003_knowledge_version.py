"""Change control: the knowledge version of every call and card, the versions seen, and the
records of a shadow pilot.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cds.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows kept before this revision stay NULL: reports show them as "unversioned".
    with op.batch_alter_table("card_audit") as batch:
        batch.add_column(sa.Column("knowledge_version", sa.String(40), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("knowledge_version", sa.String(40), nullable=True))
    op.create_table(
        "knowledge_versions",
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("first_live", UtcDateTime, nullable=True),
        sa.Column("first_shadow", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_knowledge_versions"),
    )
    op.create_table(
        "shadow_calls",
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("candidate_version", sa.String(40), nullable=False),
        sa.Column("live_version", sa.String(40), nullable=False),
        sa.Column("answered_at", UtcDateTime, nullable=False),
        sa.Column("changed", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("service", "hook_instance", "candidate_version", name="pk_shadow_calls"),
    )
    op.create_index("ix_shadow_calls_answered_at", "shadow_calls", ["answered_at"])
    op.create_table(
        "shadow_cards",
        sa.Column("candidate_version", sa.String(40), nullable=False),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("answered_at", UtcDateTime, nullable=False),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("live_mode", sa.String(10), nullable=True),
        sa.Column("live_indicator", sa.String(20), nullable=True),
        sa.Column("candidate_mode", sa.String(10), nullable=True),
        sa.Column("candidate_indicator", sa.String(20), nullable=True),
        sa.Column("change", sa.String(10), nullable=False),
        sa.CheckConstraint(
            "change IN ('appear', 'disappear', 'indicator', 'content', 'same', 'unseen')",
            name="ck_shadow_cards_change",
        ),
        sa.PrimaryKeyConstraint("candidate_version", "card_uuid", name="pk_shadow_cards"),
    )
    op.create_index("ix_shadow_cards_answered_at", "shadow_cards", ["answered_at"])


def downgrade() -> None:
    op.drop_table("shadow_cards")
    op.drop_table("shadow_calls")
    op.drop_table("knowledge_versions")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("knowledge_version")
    with op.batch_alter_table("card_audit") as batch:
        batch.drop_column("knowledge_version")
