"""Feedback storage. The HTTP layer depends only on the FeedbackStore protocol."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from cds.store.schema import feedback

if TYPE_CHECKING:
    from cds.store.database import Database


@dataclass(frozen=True)
class FeedbackRecord:
    service_id: str
    card: str
    outcome: str
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...]
    override_reason: dict[str, Any] | None
    received_at: datetime
    item_key: str  # the same item sent again has the same key, and is stored once
    issuer: str | None = None  # the verified caller that sent it (None: no verified token)
    tenant: str | None = None


class FeedbackStore(Protocol):
    def add(self, records: list[FeedbackRecord]) -> None:
        """Persist all records or none (one transaction); an item already stored is skipped."""

    def for_card(self, card_uuid: str) -> list[FeedbackRecord]:
        """Every feedback received for a card, oldest first (a card may get several)."""


def item_key(
    service_id: str, item: dict[str, Any], issuer: str | None = None, tenant: str | None = None
) -> str:
    """SHA-256 of the service id, the verified caller (when there is one) and the item's canonical
    JSON (sorted keys, no spaces): a retry is stored once, and an item another caller sent first
    never stands in for the caller's own."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    caller = "" if issuer is None else json.dumps([issuer, tenant], ensure_ascii=False) + "\n"
    return hashlib.sha256(f"{service_id}\n{caller}{canonical}".encode()).hexdigest()


class SqlFeedbackStore:
    """Feedback in the service's database; a retried request never stores an item twice."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, records: list[FeedbackRecord]) -> None:
        rows, seen = [], set()
        for r in records:
            if r.item_key in seen:  # the same item twice in one request
                continue
            seen.add(r.item_key)
            rows.append(
                {
                    "service": r.service_id,
                    "card_uuid": r.card,
                    "outcome": r.outcome,
                    "outcome_timestamp": r.outcome_timestamp,
                    "accepted_suggestions": json.dumps(list(r.accepted_suggestions)),
                    "override_reason": json.dumps(r.override_reason) if r.override_reason else None,
                    "received_at": r.received_at,
                    "item_key": r.item_key,
                    "issuer": r.issuer,
                    "tenant": r.tenant,
                }
            )
        if not rows:
            return
        statement = self._db.insert(feedback).on_conflict_do_nothing(index_elements=["item_key"])
        with self._db.transaction() as conn:
            conn.execute(statement, rows)

    def for_card(self, card_uuid: str) -> list[FeedbackRecord]:
        query = select(feedback).where(feedback.c.card_uuid == card_uuid).order_by(feedback.c.id)
        with self._db.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            FeedbackRecord(
                service_id=row["service"],
                card=row["card_uuid"],
                outcome=row["outcome"],
                outcome_timestamp=row["outcome_timestamp"],
                accepted_suggestions=tuple(json.loads(row["accepted_suggestions"])),
                override_reason=json.loads(row["override_reason"]) if row["override_reason"] else None,
                received_at=row["received_at"],
                item_key=row["item_key"],
                issuer=row["issuer"],
                tenant=row["tenant"],
            )
            for row in rows
        ]


def records_from_request(
    service_id: str,
    body: dict[str, Any],
    received_at: datetime,
    issuer: str | None = None,
    tenant: str | None = None,
) -> list[FeedbackRecord]:
    """Turn a schema-valid feedback body from a caller into records (all items, in order)."""
    return [
        FeedbackRecord(
            service_id=service_id,
            card=item["card"],
            outcome=item["outcome"],
            outcome_timestamp=item["outcomeTimestamp"],
            accepted_suggestions=tuple(s["id"] for s in item.get("acceptedSuggestions", ())),
            override_reason=item.get("overrideReason"),
            received_at=received_at,
            item_key=item_key(service_id, item, issuer, tenant),
            issuer=issuer,
            tenant=tenant,
        )
        for item in body["feedback"]
    ]
