"""Eight weeks of cards and feedback written through the real stores, for the dashboard tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cds.store.audit import CardAudit, CardAuditRow
from cds.store.database import Database
from cds.store.feedback import FeedbackRecord, SqlFeedbackStore
from cds.store.governance import CallRow, record_calls

PATIENT_ID = "pt-secret-4711"  # must never appear on the dashboard
# topic, cards per week, share accepted, share overridden, override reason
PLAN = (
    ("b12-deficiency", 9, 0.6, 0.2, "patient-declined"),
    ("magnesium-testing-recommended", 12, 0.1, 0.8, "already-ordered"),
    ("electrolyte-imbalance", 4, 0.5, 0.25, "explained-otherwise"),
    ("b12-testing-recommended", 6, 0.5, 0.3, "not-relevant-now"),
)
SILENT_TOPIC = "twitching-workup"


def seed(db: Database, until: datetime, weeks: int = 8) -> None:
    from cds.governance.audit import patient_key

    key = patient_key(b"test", PATIENT_ID)
    cards, call_rows, feedback = [], [], []
    n = 0
    for week in range(weeks):
        start = until - timedelta(weeks=weeks - week)
        for topic, per_week, accepted, overridden, reason in PLAN:
            for i in range(per_week):
                n += 1
                at = start + timedelta(hours=3 * i + 1)
                hook = f"hook-{n}"
                suggestion = f"s-{n}"
                cards.append(CardAuditRow(f"card-{n}", "deficiency-screen", topic, "info", hook, at, key,
                                          "active", json.dumps([suggestion]),
                                          json.dumps({suggestion: f"Order test for {topic}"})))  # fmt: skip
                call_rows.append(CallRow("deficiency-screen", hook, at, 1, 0))
                share = i / per_week
                if share < accepted:
                    outcome, chosen, why = "accepted", (suggestion,), None
                elif share < accepted + overridden:
                    outcome, chosen = "overridden", ()
                    why = {"reason": {"code": reason}, "userComment": f"seen {PATIENT_ID}"}
                else:
                    continue  # no feedback
                stamp = (at + timedelta(minutes=5)).isoformat()
                feedback.append(FeedbackRecord("deficiency-screen", f"card-{n}", outcome, stamp, chosen, why,
                                               at + timedelta(minutes=6), f"item-{n}"))  # fmt: skip
        for i in range(3):
            n += 1
            at = start + timedelta(hours=5 * i + 2)
            cards.append(CardAuditRow(f"card-{n}", "deficiency-screen", SILENT_TOPIC, "info", f"hook-{n}",
                                      at, key, "silent", "[]", "{}"))  # fmt: skip
            call_rows.append(CallRow("deficiency-screen", f"hook-{n}", at, 0, 1))
    CardAudit(db).record(cards)
    record_calls(db, call_rows)
    SqlFeedbackStore(db).add(feedback)
