"""The durable tables, as SQLAlchemy Core metadata. Alembic migrations (store/migrations) create
and change them; this module is what code and the migration check compare against.

Timestamps are stored as UTC (`UtcDateTime`); JSON values as text, so SQLite and PostgreSQL
hold the same bytes and a report reads them back the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

# Constraint names fixed by convention, so migrations name them the same on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime in, an aware UTC datetime out, on every backend.

    SQLite has no time zones: values are converted to UTC and stored naive, and read back as
    UTC. A naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Integer on SQLite (an alias of its rowid), 64-bit elsewhere.
_Id = BigInteger().with_variant(Integer(), "sqlite")

feedback = Table(
    "feedback",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("service", String(200), nullable=False),
    Column("card_uuid", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("outcome_timestamp", Text, nullable=False),  # as the EHR sent it (ISO 8601)
    Column("accepted_suggestions", Text, nullable=False),  # JSON list of suggestion uuids
    Column("override_reason", Text, nullable=True),  # JSON object, or NULL
    Column("received_at", UtcDateTime, nullable=False),
    # The verified caller that sent it (NULL: no verified token); counted only for its own cards.
    Column("issuer", Text, nullable=True),
    Column("tenant", Text, nullable=True),
    # SHA-256 of the service id and the item's canonical JSON: a retried item is stored once.
    Column("item_key", String(64), nullable=False, unique=True),
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="outcome"),
    Index(None, "card_uuid"),
    Index(None, "received_at"),
)

used_jti = Table(
    "used_jti",
    metadata,
    Column("key", String(64), primary_key=True),  # SHA-256 of issuer and jti
    Column("expires_at", Double, nullable=False),  # Unix seconds; the row may go after this
    Index(None, "expires_at"),
)

card_audit = Table(
    "card_audit",
    metadata,
    Column("card_uuid", String(200), primary_key=True),
    Column("service", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("indicator", String(20), nullable=False),
    Column("hook_instance", String(200), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("patient_key", String(128), nullable=False),  # HMAC of the patient id, never the id
    Column("mode", String(10), nullable=False),
    Column("suggestion_uuids", Text, nullable=False),  # JSON list
    # JSON object suggestion uuid -> label (catalog text, never patient data), for the report
    Column("suggestion_labels", Text, nullable=True),
    # the knowledge version that built the card; NULL for cards recorded before versions were
    Column("knowledge_version", String(40), nullable=True),
    # The verified caller the card was issued to (NULL: no verified token, or recorded before
    # origins were kept): feedback for it is taken from that issuer and tenant only.
    Column("issuer", Text, nullable=True),
    Column("tenant", Text, nullable=True),
    CheckConstraint("mode IN ('active', 'silent')", name="mode"),
    Index(None, "issued_at"),
    Index(None, "service", "topic"),
)

# One row per call answered (a call without cards counts too); a retried hookInstance once.
calls = Table(
    "calls",
    metadata,
    Column("service", String(200), primary_key=True),
    Column("hook_instance", String(200), primary_key=True),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("cards", Integer, nullable=False),  # cards returned
    Column("silent", Integer, nullable=False),  # cards recorded silently
    Column("knowledge_version", String(40), nullable=True),  # NULL: answered before versions were kept
    # First 8 hex digits of SHA-256 of the audit key the call's pseudonyms were made with
    # (NULL: recorded before it was kept): a report says when its period spans a rotation.
    Column("key_fingerprint", String(16), nullable=True),
    Index(None, "answered_at"),
)

# Every knowledge version the service has answered with or piloted: its label, its card
# settings (normal form, no secrets) and when it first answered a call live or in the shadow.
# No patient data; kept whatever retention_days says, as the key to the versions in reports.
knowledge_versions = Table(
    "knowledge_versions",
    metadata,
    Column("version", String(40), primary_key=True),
    Column("label", Text, nullable=False),
    Column("settings", Text, nullable=False),  # JSON object
    Column("first_live", UtcDateTime, nullable=True),
    Column("first_shadow", UtcDateTime, nullable=True),
)

# A shadow pilot's calls: each call the candidate was assessed on, and whether the clinician's
# answer would have differed under it.
shadow_calls = Table(
    "shadow_calls",
    metadata,
    Column("service", String(200), primary_key=True),
    Column("hook_instance", String(200), primary_key=True),
    Column("candidate_version", String(40), primary_key=True),
    Column("live_version", String(40), nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("changed", Integer, nullable=False),  # 1: the answer (its cards) would differ
    Index(None, "answered_at"),
)

# A shadow pilot's cards: every card of either side of a call (live, candidate), never shown.
# `change` is what the clinician would see happen to it: appear, disappear, indicator (its
# indicator changes), content (its wording or suggestions change), same, or unseen (silent or
# absent on both sides).
shadow_cards = Table(
    "shadow_cards",
    metadata,
    Column("candidate_version", String(40), primary_key=True),
    Column("card_uuid", String(200), primary_key=True),
    Column("service", String(200), nullable=False),
    Column("hook_instance", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("patient_key", String(128), nullable=False),  # HMAC of the patient id, never the id
    Column("live_mode", String(10), nullable=True),  # active, silent; NULL: not built live
    Column("live_indicator", String(20), nullable=True),
    Column("candidate_mode", String(10), nullable=True),
    Column("candidate_indicator", String(20), nullable=True),
    Column("change", String(10), nullable=False),
    CheckConstraint(
        "change IN ('appear', 'disappear', 'indicator', 'content', 'same', 'unseen')", name="change"
    ),
    Index(None, "answered_at"),
)

# Where earlier versions kept a generated audit key. It is moved out (to a file) and deleted at
# start-up; the table stays so an older database can still be read.
site_secret = Table(
    "site_secret",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
