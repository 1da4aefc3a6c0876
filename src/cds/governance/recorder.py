"""The audit of every call: its cards (shown and silent), written off the clinician's path.

The patient key is an HMAC-SHA256 of the patient id under the site's audit key, which is never
kept in the audited database (cds.governance.audit_key); each call records the key's
fingerprint, so a report can say when its period spans a change of key. Each card records the
verified caller (issuer and tenant) it was issued to, so feedback is taken from that caller
only, and the knowledge version that built it, so reports can be read across a change of rules.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds.change.version import card_settings, knowledge_version
from cds.config import Settings
from cds.governance.audit import AuditedCard, audited_cards, patient_key
from cds.governance.audit_key import load_audit_key
from cds.governance.origin import Caller, foreign_cards
from cds.governance.shadow import ShadowPilot
from cds.governance.writer import BackgroundWriter
from cds.logs import log_event
from cds.services.response import Card
from cds.store.audit import CardAudit, CardAuditRow
from cds.store.database import Database
from cds.store.governance import (
    CallRow,
    Purged,
    VersionRow,
    card_origins,
    purge_before,
    record_calls,
    register_version,
)

PURGE_EVERY_S = 24 * 3600


@dataclass(frozen=True)
class CallRecord:
    call: CallRow
    cards: tuple[AuditedCard, ...]
    issuer: str | None = None  # the verified caller the cards went to
    tenant: str | None = None


def _row(card: AuditedCard, record: CallRecord) -> CardAuditRow:
    return CardAuditRow(
        card_uuid=card.card_uuid,
        service=card.service,
        topic=card.topic,
        indicator=card.indicator,
        hook_instance=card.hook_instance,
        issued_at=card.issued_at,
        patient_key=card.patient_key,
        mode=card.mode,
        suggestion_uuids=json.dumps(list(card.suggestions)),
        suggestion_labels=json.dumps(dict(card.suggestions), ensure_ascii=False),
        knowledge_version=card.knowledge_version,
        issuer=record.issuer,
        tenant=record.tenant,
    )


def purge_expired(db: Database, retention_days: int, now: datetime) -> Purged | None:
    """Delete records older than `retention_days` (none when it is 0)."""
    if retention_days <= 0:
        return None
    purged = purge_before(db, now - timedelta(days=retention_days))
    if purged.cards or purged.feedback or purged.calls or purged.shadow_calls:
        log_event("retention: old records deleted", cards=purged.cards, feedback=purged.feedback,
                  calls=purged.calls, shadow_calls=purged.shadow_calls or None,
                  retention_days=retention_days)  # fmt: skip
    return purged


class AuditRecorder:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._audit = CardAudit(db)
        key = load_audit_key(settings, db)
        self._secret = key.secret
        self.key_fingerprint = key.fingerprint
        log_event("audit key", source=key.source, fingerprint=key.fingerprint)
        self._retention_days = settings.retention_days
        self._last_purge = time.monotonic()
        self._purge_lock = threading.Lock()
        self._writer: BackgroundWriter[CallRecord] = BackgroundWriter(
            self._write, queue_size=settings.audit_queue_size, flush_s=settings.audit_flush_s
        )
        self._version = knowledge_version(settings)  # every call and card records the rules
        self._version_row = VersionRow(self._version.version, self._version.label, card_settings(settings))
        self._version_noted = False
        self.shadow = ShadowPilot(db, settings, self._secret)  # the candidate's calls, when piloted

    def record_call(
        self,
        *,
        service: str,
        hook_instance: str,
        patient_id: str | None,
        answered_at: datetime,
        cards: Iterable[Card],
        silent_cards: Iterable[Card] = (),
        caller: Caller | None = None,
    ) -> None:
        patient = patient_key(self._secret, patient_id or "")
        version = self._version.version
        common: dict[str, Any] = {"service": service, "hook_instance": hook_instance,
                                  "issued_at": answered_at, "patient": patient,
                                  "knowledge_version": version}  # fmt: skip
        shown = audited_cards(cards, mode="active", **common)
        silent = audited_cards(silent_cards, mode="silent", **common)
        counts = (len(shown), len(silent))
        call = CallRow(service, hook_instance, answered_at, *counts, version, self.key_fingerprint)
        issuer, tenant = (caller.iss, caller.tenant) if caller is not None else (None, None)
        self._writer.submit([CallRecord(call, (*shown, *silent), issuer, tenant)])

    def cards_issued_elsewhere(self, caller: Caller | None, card_uuids: Sequence[str]) -> list[str]:
        """Those of these cards the audit says were issued to another caller (issuer or tenant).
        This worker's queued cards are written first, so a card it just answered is known."""
        self._writer.flush()
        return foreign_cards(card_origins(self._db, card_uuids), caller)

    def flush(self) -> None:
        """Write what this process has queued, a shadow pilot's too (before reading figures)."""
        self._writer.flush()
        self.shadow.flush()

    def close(self) -> None:
        self._writer.close()
        self.shadow.close()

    def purge_expired(self, now: datetime) -> Purged | None:
        """Delete records older than `retention_days` (none when it is 0)."""
        return purge_expired(self._db, self._retention_days, now)

    def _write(self, records: Sequence[CallRecord]) -> None:
        if not self._version_noted:  # once per process: when this version first answered
            at = min(r.call.answered_at for r in records)
            register_version(self._db, self._version_row, at=at, live=True)
            self._version_noted = True
        self._audit.record([_row(card, r) for r in records for card in r.cards])
        record_calls(self._db, [r.call for r in records])
        self._maybe_purge(max(r.call.answered_at for r in records))

    def _maybe_purge(self, now: datetime) -> None:
        # Daily in each worker that writes; deleting what another worker already deleted is harmless.
        if time.monotonic() - self._last_purge < PURGE_EVERY_S or not self._purge_lock.acquire(False):
            return
        try:
            self._last_purge = time.monotonic()
            self.purge_expired(now)
        finally:
            self._purge_lock.release()
