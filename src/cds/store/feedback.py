"""Feedback storage. The HTTP layer depends only on the FeedbackStore protocol."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from cds.store.sqlite import ThreadLocalSqlite


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    card: str
    outcome: str
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...]
    override_reason: dict[str, Any] | None
    received_at: str
    item_key: str = ""  # see item_key(): equal for an identical item sent again


def item_key(item: dict[str, Any]) -> str:
    """The natural key of one feedback item: SHA-256 (hex) of its canonical JSON, that is
    the item as received, keys sorted, no whitespace, UTF-8 (orjson with OPT_SORT_KEYS).
    Stored with the service id under a unique constraint, so a retried item is kept once."""
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


class FeedbackStore(Protocol):
    def add(self, records: list[FeedbackRecord]) -> None:
        """Persist all records or none (one transaction); a record whose item_key the
        service already holds is not stored again."""

    def for_card(self, card_uuid: str) -> list[FeedbackRecord]:
        """Every feedback received for a card, oldest first (a card may get several)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT NOT NULL,
    override_reason TEXT,
    received_at TEXT NOT NULL,
    item_key TEXT
);
CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card);
"""
# A file written before item keys existed gains the column; its old rows keep NULL keys.
_ITEM_KEY = """
CREATE UNIQUE INDEX IF NOT EXISTS feedback_item ON feedback (service_id, item_key);
"""


class SqliteFeedbackStore:
    """Durable store in one SQLite file (WAL mode, safe across gunicorn workers)."""

    def __init__(self, path: str) -> None:
        self._db = ThreadLocalSqlite(path)
        conn = self._connect()
        conn.executescript(_SCHEMA)
        if "item_key" not in {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}:
            conn.execute("ALTER TABLE feedback ADD COLUMN item_key TEXT")
        conn.executescript(_ITEM_KEY)

    def _connect(self) -> sqlite3.Connection:
        return self._db.connection()

    def add(self, records: list[FeedbackRecord]) -> None:
        conn = self._connect()
        rows = [
            (
                r.service_id,
                r.card,
                r.outcome,
                r.outcome_timestamp,
                json.dumps(list(r.accepted_suggestions)),
                json.dumps(r.override_reason) if r.override_reason else None,
                r.received_at,
                r.item_key or None,
            )
            for r in records
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO feedback (service_id, card, outcome, outcome_timestamp,"
                " accepted_suggestions, override_reason, received_at, item_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (service_id, item_key) DO NOTHING",
                rows,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def for_card(self, card_uuid: str) -> list[FeedbackRecord]:
        cursor = self._connect().execute(
            "SELECT service_id, card, outcome, outcome_timestamp, accepted_suggestions,"
            " override_reason, received_at FROM feedback WHERE card = ? ORDER BY id",
            (card_uuid,),
        )
        return [
            FeedbackRecord(
                service_id=row[0],
                card=row[1],
                outcome=row[2],
                outcome_timestamp=row[3],
                accepted_suggestions=tuple(json.loads(row[4])),
                override_reason=json.loads(row[5]) if row[5] else None,
                received_at=row[6],
            )
            for row in cursor
        ]


def records_from_request(
    service_id: str, body: dict[str, Any], received_at: str
) -> list[FeedbackRecord]:
    """Turn a schema-valid feedback body into records (all items, in order)."""
    return [
        FeedbackRecord(
            service_id=service_id,
            card=item["card"],
            outcome=item["outcome"],
            outcome_timestamp=item["outcomeTimestamp"],
            accepted_suggestions=tuple(s["id"] for s in item.get("acceptedSuggestions", ())),
            override_reason=item.get("overrideReason"),
            received_at=received_at,
            item_key=item_key(item),
        )
        for item in body["feedback"]
    ]
