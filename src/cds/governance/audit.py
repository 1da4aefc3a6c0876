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
from typing import Any

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


def _suggestion_label(suggestion: Mapping[str, Any]) -> str:
    actions = suggestion.get("actions") or ()
    if any(isinstance(a, Mapping) and a.get("type") == "delete" for a in actions):
        return REMOVAL_LABEL
    return str(suggestion.get("label") or "")


def _topic(card: Mapping[str, Any]) -> str:
    topic = (card.get("source") or {}).get("topic") or {}
    return str(topic.get("code") or "")


def audited_cards(
    cards: Iterable[Mapping[str, Any]],
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
            card_uuid=str(card.get("uuid") or ""),
            service=service,
            topic=_topic(card),
            indicator=str(card.get("indicator") or ""),
            hook_instance=hook_instance,
            issued_at=issued_at,
            patient_key=patient,
            mode=mode,
            suggestions={
                str(s["uuid"]): _suggestion_label(s)
                for s in card.get("suggestions") or ()
                if isinstance(s, Mapping) and s.get("uuid")
            },
            knowledge_version=knowledge_version,
        )
        for card in cards
        if card.get("uuid")  # every card we build has one; a card without cannot be joined
    ]
