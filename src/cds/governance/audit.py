"""What the audit keeps of a card: who issued it, about which topic, never about whom.

The patient is a keyed HMAC-SHA256 of the patient id: stable for one site (a committee can
count distinct patients), meaningless without the site's secret, and never the id itself.
No names, values, summaries or free text are kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cds.services.response import Card, Suggestion

# A removal's label names the patient's own draft order; the audit keeps only what it did.
REMOVAL_LABEL = "Remove a duplicate order"


def patient_key(secret: bytes, patient_id: str) -> str:
    return hmac.new(secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditedCard:
    card_uuid: str
    service: str
    topic: str
    indicator: str
    hook_instance: str
    issued_at: datetime
    patient_key: str
    mode: str  # "active" (returned) or "silent" (built, never returned)
    suggestions: Mapping[str, str]  # suggestion uuid -> label (catalog text, never patient data)
    knowledge_version: str | None = None  # the rules that built it


def _suggestion_label(suggestion: Suggestion) -> str:
    if any(action.type == "delete" for action in suggestion.actions):
        return REMOVAL_LABEL
    return suggestion.label


def audited_cards(
    cards: Iterable[Card],
    *,
    service: str,
    hook_instance: str,
    issued_at: datetime,
    patient: str,
    mode: str,
    knowledge_version: str | None = None,
) -> list[AuditedCard]:
    return [
        AuditedCard(
            card_uuid=card.uuid,
            service=service,
            topic=card.topic,
            indicator=card.indicator,
            hook_instance=hook_instance,
            issued_at=issued_at,
            patient_key=patient,
            mode=mode,
            suggestions={s.uuid: _suggestion_label(s) for s in card.suggestions},
            knowledge_version=knowledge_version,
        )
        for card in cards
    ]
