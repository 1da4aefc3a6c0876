"""The governance tables: calls answered, an earlier version's audit key, retention, and the
queries the committee report is made from (cards in a period, their feedback, feedback never
matched, the audit keys in use)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select

from cds.store.schema import calls, card_audit, feedback, site_secret

if TYPE_CHECKING:
    from cds.store.database import Database

AUDIT_KEY = "audit_hmac_key"


@dataclass(frozen=True)
class CallRow:
    service: str
    hook_instance: str
    answered_at: datetime
    cards: int
    silent: int
    key_fingerprint: str | None = None  # of the audit key the call's pseudonyms were made with


def record_calls(db: Database, rows: Sequence[CallRow]) -> None:
    if not rows:
        return
    statement = db.insert(calls).on_conflict_do_nothing(index_elements=["service", "hook_instance"])
    with db.transaction() as conn:
        conn.execute(statement, [vars(r).copy() for r in rows])  # flat values: no deep copy


def stored_key(db: Database, name: str = AUDIT_KEY) -> str | None:
    """The hex audit key an earlier version generated and kept in the database, if any."""
    with db.engine.connect() as conn:
        return conn.execute(select(site_secret.c.value).where(site_secret.c.name == name)).scalar()


def forget_stored_key(db: Database, name: str = AUDIT_KEY) -> None:
    """Delete that key from the database (once it is safe in a file)."""
    with db.transaction() as conn:
        conn.execute(delete(site_secret).where(site_secret.c.name == name))


@dataclass(frozen=True)
class Purged:
    cards: int
    feedback: int
    calls: int


def purge_before(db: Database, before: datetime) -> Purged:
    """Delete audit, feedback and call records older than `before` (one transaction)."""
    with db.transaction() as conn:
        return Purged(
            cards=conn.execute(delete(card_audit).where(card_audit.c.issued_at < before)).rowcount,
            feedback=conn.execute(delete(feedback).where(feedback.c.received_at < before)).rowcount,
            calls=conn.execute(delete(calls).where(calls.c.answered_at < before)).rowcount,
        )


# --- what the report reads ------------------------------------------------------------------


def _selected(
    table: Any, at: Any, since: datetime | None, until: datetime | None, service: str | None
) -> list[Any]:
    """Conditions for `table`'s rows with `at` in [since, until) and, when named, of one service."""
    where = []
    if since is not None:
        where.append(at >= since)
    if until is not None:
        where.append(at < until)
    if service:
        where.append(table.c.service == service)
    return where


def _cards_selected(
    since: datetime | None, until: datetime | None, service: str | None, topic: str | None
) -> list[Any]:
    """Conditions for the audited cards issued in the period, of one service and topic if named."""
    where = _selected(card_audit, card_audit.c.issued_at, since, until, service)
    if topic:
        where.append(card_audit.c.topic == topic)
    return where


def audit_in_period(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    topic: str | None = None,
) -> Iterator[dict[str, Any]]:
    where = _cards_selected(since, until, service, topic)
    query = select(
        card_audit.c.card_uuid,
        card_audit.c.service,
        card_audit.c.topic,
        card_audit.c.issued_at,
        card_audit.c.hook_instance,
        card_audit.c.mode,
        card_audit.c.suggestion_labels,
    ).where(*where)
    with db.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            labels = json.loads(row["suggestion_labels"]) if row["suggestion_labels"] else {}
            yield {**row, "suggestion_labels": labels}


def feedback_for_period_cards(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    topic: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Feedback whose card was issued in the period (whenever the feedback arrived)."""
    where = _cards_selected(since, until, service, topic)
    query = (
        select(
            feedback.c.id,
            feedback.c.service,
            feedback.c.card_uuid,
            feedback.c.outcome,
            feedback.c.outcome_timestamp,
            feedback.c.accepted_suggestions,
            feedback.c.override_reason,
        )
        .join(card_audit, and_(card_audit.c.card_uuid == feedback.c.card_uuid, same_origin()))
        .where(*where)
    )
    with db.engine.connect() as conn:
        yield from (dict(row) for row in conn.execute(query).mappings())


def same_origin() -> Any:
    """A feedback row counts for its card only when it came from the caller the card was issued
    to (issuer and tenant), or when the card's caller is not known (no verified token, or
    recorded before callers were kept). Feedback that arrived before its card's audit record
    was written, from another caller, is refused here as at the door."""
    return or_(
        card_audit.c.issuer.is_(None),
        and_(
            card_audit.c.issuer == feedback.c.issuer,
            card_audit.c.tenant.is_not_distinct_from(feedback.c.tenant),
        ),
    )


def unmatched_feedback(
    db: Database, since: datetime | None, until: datetime | None, service: str | None
) -> int:
    """Feedback received in the period for no card that its service returned to the caller
    that sent it."""
    shown = and_(
        card_audit.c.card_uuid == feedback.c.card_uuid,
        card_audit.c.service == feedback.c.service,
        card_audit.c.mode == "active",
        same_origin(),
    )
    where = _selected(feedback, feedback.c.received_at, since, until, service)
    where.append(card_audit.c.card_uuid.is_(None))
    query = select(func.count()).select_from(feedback.outerjoin(card_audit, shown)).where(*where)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def calls_by_service(
    db: Database, since: datetime | None, until: datetime | None, service: str | None
) -> dict[str, int]:
    where = _selected(calls, calls.c.answered_at, since, until, service)
    query = select(calls.c.service, func.count()).where(*where).group_by(calls.c.service)
    with db.engine.connect() as conn:
        return {name: int(count) for name, count in conn.execute(query)}


@dataclass(frozen=True)
class KeyUse:
    fingerprint: str | None  # None: calls recorded before fingerprints were kept
    first: datetime
    last: datetime
    calls: int


def audit_keys_in_period(
    db: Database, since: datetime | None, until: datetime | None, service: str | None
) -> list[KeyUse]:
    """The audit keys the period's calls were pseudonymised with, in the order they came into use."""
    where = _selected(calls, calls.c.answered_at, since, until, service)
    first, last = func.min(calls.c.answered_at), func.max(calls.c.answered_at)
    query = (
        select(calls.c.key_fingerprint, first, last, func.count())
        .where(*where)
        .group_by(calls.c.key_fingerprint)
        .order_by(first)
    )
    with db.engine.connect() as conn:
        # min and max keep the column's type: aware UTC datetimes on every backend
        return [KeyUse(fp, a, b, int(n)) for fp, a, b, n in conn.execute(query)]


@dataclass(frozen=True)
class CardOrigin:
    issuer: str | None
    tenant: str | None


def card_origins(db: Database, card_uuids: Sequence[str]) -> dict[str, CardOrigin]:
    """The caller each of these cards was issued to, for the cards the audit holds."""
    if not card_uuids:
        return {}
    query = select(card_audit.c.card_uuid, card_audit.c.issuer, card_audit.c.tenant).where(
        card_audit.c.card_uuid.in_(sorted(set(card_uuids)))
    )
    with db.engine.connect() as conn:
        return {uuid: CardOrigin(issuer, tenant) for uuid, issuer, tenant in conn.execute(query)}
