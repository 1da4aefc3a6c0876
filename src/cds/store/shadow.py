"""A shadow pilot's records: the calls a candidate was assessed on and the cards of both sides.

Keyed by the candidate's knowledge version, so a call assessed again (the EHR retried it) is
stored once, and two candidates piloted one after the other keep their own records.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from cds.store.governance import period_conditions, version_is
from cds.store.schema import shadow_calls, shadow_cards

if TYPE_CHECKING:
    from cds.store.database import Database


@dataclass(frozen=True)
class ShadowCallRow:
    service: str
    hook_instance: str
    candidate_version: str
    live_version: str
    answered_at: datetime
    changed: int  # 1: the clinician's answer would differ under the candidate


@dataclass(frozen=True)
class ShadowCardRow:
    candidate_version: str
    card_uuid: str
    service: str
    hook_instance: str
    topic: str
    answered_at: datetime
    patient_key: str  # HMAC of the patient id, never the id
    live_mode: str | None
    live_indicator: str | None
    candidate_mode: str | None
    candidate_indicator: str | None
    change: str


def record_shadow(db: Database, calls: Sequence[ShadowCallRow], cards: Sequence[ShadowCardRow]) -> None:
    """One transaction; a call or card already recorded for its candidate is left as it was."""
    if not calls:
        return
    call_statement = db.insert(shadow_calls).on_conflict_do_nothing(
        index_elements=["service", "hook_instance", "candidate_version"]
    )
    card_statement = db.insert(shadow_cards).on_conflict_do_nothing(
        index_elements=["candidate_version", "card_uuid"]
    )
    with db.transaction() as conn:
        conn.execute(call_statement, [vars(r).copy() for r in calls])
        if cards:
            conn.execute(card_statement, [vars(r).copy() for r in cards])


def shadow_calls_in_period(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    version: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The pilot's calls in the period; with `version`, those where it was the candidate or the
    live rules compared with."""
    where = period_conditions(shadow_calls, shadow_calls.c.answered_at, since, until, service)
    if version:
        where.append(
            or_(
                version_is(shadow_calls.c.candidate_version, version),
                version_is(shadow_calls.c.live_version, version),
            )
        )
    query = select(
        shadow_calls.c.service,
        shadow_calls.c.hook_instance,
        shadow_calls.c.candidate_version,
        shadow_calls.c.live_version,
        shadow_calls.c.answered_at,
        shadow_calls.c.changed,
    ).where(*where)
    with db.engine.connect() as conn:
        yield from (dict(r) for r in conn.execute(query).mappings())


def shadow_cards_in_period(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    topic: str | None = None,
) -> Iterator[dict[str, Any]]:
    where = period_conditions(shadow_cards, shadow_cards.c.answered_at, since, until, service)
    if topic:
        where.append(shadow_cards.c.topic == topic)
    query = select(
        shadow_cards.c.candidate_version,
        shadow_cards.c.service,
        shadow_cards.c.hook_instance,
        shadow_cards.c.topic,
        shadow_cards.c.live_mode,
        shadow_cards.c.live_indicator,
        shadow_cards.c.candidate_mode,
        shadow_cards.c.candidate_indicator,
        shadow_cards.c.change,
    ).where(*where)
    with db.engine.connect() as conn:
        yield from (dict(r) for r in conn.execute(query).mappings())
