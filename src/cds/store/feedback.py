"""Feedback storage. The HTTP layer depends only on the FeedbackStore protocol."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

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


class FeedbackStore(Protocol):
    def add(self, records: list[FeedbackRecord]) -> None:
        """Persist all records or none (one transaction)."""

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
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card);
"""


class SqliteFeedbackStore:
    """Durable store in one SQLite file (WAL mode, safe across gunicorn workers)."""

    def __init__(self, path: str) -> None:
        self._db = ThreadLocalSqlite(path)
        self._connect().executescript(_SCHEMA)

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
            )
            for r in records
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO feedback (service_id, card, outcome, outcome_timestamp,"
                " accepted_suggestions, override_reason, received_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        )
        for item in body["feedback"]
    ]
