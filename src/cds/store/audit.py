"""The card audit: one row per card issued (what, when, for whom by keyed hash, in which mode)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cds.store.schema import card_audit

if TYPE_CHECKING:
    from cds.store.database import Database


@dataclass(frozen=True)
class CardAuditRow:
    card_uuid: str
    service: str
    topic: str
    indicator: str
    hook_instance: str
    issued_at: datetime  # aware; stored as UTC
    patient_key: str  # HMAC of the patient id, never the id itself
    mode: str  # "active" or "silent"
    suggestion_uuids: str  # JSON list
    suggestion_labels: str | None = None  # JSON object uuid -> label (catalog text only)
    knowledge_version: str | None = None  # the rules that built it (cds.knowledge.version)
    issuer: str | None = None  # the verified caller the card was issued to (None: no verified token)
    tenant: str | None = None


class CardAudit:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, rows: list[CardAuditRow]) -> None:
        """Insert all rows or none; a card already recorded (same uuid) is left as it was."""
        if not rows:
            return
        statement = self._db.insert(card_audit).on_conflict_do_nothing(index_elements=["card_uuid"])
        with self._db.transaction() as conn:
            conn.execute(statement, [vars(row).copy() for row in rows])  # flat values: no deep copy
