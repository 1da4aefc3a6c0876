"""The governance tables: calls answered, an earlier version's audit key, retention, and the
queries the committee report is made from (cards in a period, their feedback, feedback never
matched, the audit keys in use)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update

from cds.knowledge.version import UNVERSIONED
from cds.store.schema import (
    calls,
    card_audit,
    feedback,
    knowledge_versions,
    shadow_calls,
    shadow_cards,
    site_secret,
)

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
    knowledge_version: str | None = None  # the rules it was answered by
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
    shadow_calls: int = 0  # a shadow pilot's calls (its cards go with them)


def purge_before(db: Database, before: datetime) -> Purged:
    """Delete audit, feedback, call and shadow pilot records older than `before` (one transaction)."""
    with db.transaction() as conn:
        conn.execute(delete(shadow_cards).where(shadow_cards.c.answered_at < before))
        shadow = conn.execute(delete(shadow_calls).where(shadow_calls.c.answered_at < before)).rowcount
        return Purged(
            cards=conn.execute(delete(card_audit).where(card_audit.c.issued_at < before)).rowcount,
            feedback=conn.execute(delete(feedback).where(feedback.c.received_at < before)).rowcount,
            calls=conn.execute(delete(calls).where(calls.c.answered_at < before)).rowcount,
            shadow_calls=shadow,
        )


# --- what the report reads ------------------------------------------------------------------


def period_conditions(
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


def version_is(column: Any, version: str | None) -> Any:
    """The condition for one knowledge version; UNVERSIONED names rows kept before versions were."""
    return column.is_(None) if version == UNVERSIONED else column == version


def _cards_selected(
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    topic: str | None,
    version: str | None = None,
) -> list[Any]:
    """Conditions for the audited cards issued in the period, of one service, topic and
    knowledge version if named."""
    where = period_conditions(card_audit, card_audit.c.issued_at, since, until, service)
    if topic:
        where.append(card_audit.c.topic == topic)
    if version:
        where.append(version_is(card_audit.c.knowledge_version, version))
    return where


def audit_in_period(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    topic: str | None = None,
    version: str | None = None,
) -> Iterator[dict[str, Any]]:
    where = _cards_selected(since, until, service, topic, version)
    query = select(
        card_audit.c.card_uuid,
        card_audit.c.service,
        card_audit.c.topic,
        card_audit.c.issued_at,
        card_audit.c.hook_instance,
        card_audit.c.mode,
        card_audit.c.suggestion_labels,
        card_audit.c.knowledge_version,
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
    version: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Feedback whose card was issued in the period (whenever the feedback arrived)."""
    where = _cards_selected(since, until, service, topic, version)
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
    where = period_conditions(feedback, feedback.c.received_at, since, until, service)
    where.append(card_audit.c.card_uuid.is_(None))
    query = select(func.count()).select_from(feedback.outerjoin(card_audit, shown)).where(*where)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def calls_by_service(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    service: str | None,
    version: str | None = None,
) -> dict[str, int]:
    where = period_conditions(calls, calls.c.answered_at, since, until, service)
    if version:
        where.append(version_is(calls.c.knowledge_version, version))
    query = select(calls.c.service, func.count()).where(*where).group_by(calls.c.service)
    with db.engine.connect() as conn:
        return {name: int(count) for name, count in conn.execute(query)}


def calls_by_version(
    db: Database, since: datetime | None, until: datetime | None, service: str | None
) -> dict[str | None, dict[str, int]]:
    """Calls answered in the period per knowledge version (None: unversioned) and service."""
    where = period_conditions(calls, calls.c.answered_at, since, until, service)
    query = (
        select(calls.c.knowledge_version, calls.c.service, func.count())
        .where(*where)
        .group_by(calls.c.knowledge_version, calls.c.service)
    )
    found: dict[str | None, dict[str, int]] = {}
    with db.engine.connect() as conn:
        for version, name, count in conn.execute(query):
            found.setdefault(version, {})[name] = int(count)
    return found


# --- the knowledge versions seen -------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: str
    label: str
    settings: dict[str, Any]
    first_live: datetime | None = None
    first_shadow: datetime | None = None


def register_version(db: Database, row: VersionRow, *, at: datetime, live: bool) -> None:
    """Note a version answering (live) or piloted (shadow) at `at`: the first time is kept, and
    a non-empty label replaces the one noted before."""
    first = knowledge_versions.c.first_live if live else knowledge_versions.c.first_shadow
    statement = db.insert(knowledge_versions).on_conflict_do_nothing(index_elements=["version"])
    settings = json.dumps(row.settings, sort_keys=True)
    this = knowledge_versions.c.version == row.version
    with db.transaction() as conn:
        conn.execute(statement, [{"version": row.version, "label": row.label, "settings": settings}])
        earlier = or_(first.is_(None), first > at)
        conn.execute(update(knowledge_versions).where(this, earlier).values({first: at}))
        if row.label:
            conn.execute(update(knowledge_versions).where(this).values(label=row.label))


def known_versions(db: Database) -> dict[str, VersionRow]:
    query = select(knowledge_versions)
    with db.engine.connect() as conn:
        rows = conn.execute(query).mappings()
        return {
            r["version"]: VersionRow(
                r["version"], r["label"], json.loads(r["settings"]), r["first_live"], r["first_shadow"]
            )
            for r in rows
        }


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
    where = period_conditions(calls, calls.c.answered_at, since, until, service)
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
