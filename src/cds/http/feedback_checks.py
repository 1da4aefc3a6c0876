"""What a feedback request must pass before anything is stored: a bounded number of items, and
every card it names issued to the caller that sends it (cds.governance.origin)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from cds.errors import Forbidden, PayloadTooLarge
from cds.governance.origin import Caller
from cds.governance.recorder import AuditRecorder
from cds.logs import log_event
from cds.store.feedback import FeedbackRecord


def check_item_count(body: dict[str, Any], limit: int) -> None:
    """Checked before the items are validated: the cost of a refusal stays small."""
    items = body.get("feedback")
    if isinstance(items, list) and len(items) > limit:
        raise PayloadTooLarge(
            f"feedback holds {len(items)} items; at most {limit} are accepted in one request "
            "(max_feedback_items); send the rest in further requests",
            location="feedback",
        )


def check_origin(audit: AuditRecorder, caller: Caller | None, records: Sequence[FeedbackRecord]) -> None:
    """403, nothing stored, when any card was issued to another issuer or tenant. Which one is
    never said: the log names the caller that sent the feedback and how many cards it named."""
    foreign = audit.cards_issued_elsewhere(caller, [r.card for r in records])
    if not foreign:
        return
    log_event(
        "feedback refused: cards issued to another caller",
        logging.WARNING,
        iss=caller.iss if caller is not None else None,
        tenant=caller.tenant if caller is not None else None,
        cards=len(foreign),
    )
    raise Forbidden(
        f"{len(foreign)} of the cards this feedback names were issued to another EHR (issuer or "
        "tenant); feedback is accepted only from the caller a card was issued to, and none was stored",
        location="feedback",
    )
