"""What the audit keeps of a card: ids, topic, mode and a keyed patient pseudonym, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from cds.governance.audit import REMOVAL_LABEL, audited_cards, patient_key
from cds.services.response import Card

CARD = msgspec.convert({
    "uuid": "card-1",
    "summary": "Vitamin B12 deficiency: B12 150 pg/mL",
    "indicator": "warning",
    "source": {"label": "myelin-cds", "topic": {"code": "b12-deficiency"}},
    "suggestions": [
        {"label": "Order Methylmalonic acid", "uuid": "s-1",
         "actions": [{"type": "create", "description": "x"}]},
        {"label": "Remove the duplicate B12 order: Cyanocobalamin 1 mg", "uuid": "s-2",
         "actions": [{"type": "delete", "description": "y", "resourceId": "MedicationRequest/42"}]},
    ],
}, Card)  # fmt: skip


def test_patient_key_is_a_keyed_hash_stable_per_secret() -> None:
    key = patient_key(b"site-secret", "p1")
    assert key == patient_key(b"site-secret", "p1") and len(key) == 64
    assert key != patient_key(b"other-secret", "p1") and key != patient_key(b"site-secret", "p2")
    assert "p1" not in key


def test_audited_card_keeps_no_patient_text() -> None:
    when = datetime(2026, 11, 2, tzinfo=UTC)
    [row] = audited_cards(
        [CARD], service="deficiency-screen", hook_instance="h1", issued_at=when, patient="k", mode="active"
    )
    assert (row.card_uuid, row.topic, row.indicator) == ("card-1", "b12-deficiency", "warning")
    # the removal's label named the patient's own order: only what it did is kept
    assert row.suggestions == {"s-1": "Order Methylmalonic acid", "s-2": REMOVAL_LABEL}
    text = repr(row)
    assert "150" not in text and "Cyanocobalamin" not in text and "MedicationRequest/42" not in text
