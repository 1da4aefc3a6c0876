"""The report from the database: a period's stored rows queried and turned into the committee's
figures (`governance.figures`, which is pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cds.change.version import knowledge_version
from cds.config import Settings
from cds.governance.comparison import compare_pilot
from cds.governance.figures import CardFact, FatigueRule, FeedbackFact, KeyPeriod, Report, build_report
from cds.governance.versions import mark_new_versions, split_by_version
from cds.knowledge.version import UNVERSIONED
from cds.store.database import Database
from cds.store.governance import (
    audit_in_period,
    audit_keys_in_period,
    calls_by_service,
    calls_by_version,
    feedback_for_period_cards,
    known_versions,
    unmatched_feedback,
)
from cds.store.shadow import shadow_calls_in_period, shadow_cards_in_period


def fatigue_rule(settings: Settings) -> FatigueRule:
    return FatigueRule(settings.fatigue_window, settings.fatigue_threshold, settings.fatigue_min_cards)


def _reason_code(text: str | None) -> str | None:
    if not text:
        return None
    try:
        reason = json.loads(text)
    except json.JSONDecodeError:
        return None
    coding = reason.get("reason") if isinstance(reason, dict) else None
    code = coding.get("code") if isinstance(coding, dict) else None
    return code if isinstance(code, str) and code else None  # the comment is never read


def _accepted(text: str) -> tuple[str, ...]:
    try:
        value: Any = json.loads(text)
    except json.JSONDecodeError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def load_report(
    db: Database,
    settings: Settings,
    *,
    since: datetime | None,
    until: datetime | None,
    service: str | None = None,
    topic: str | None = None,
    displays: Mapping[str, str] | None = None,
    version: str | None = None,
) -> Report:
    """The report of a period (one service, topic or knowledge version if named), split by
    knowledge version, with the comparison of any shadow pilot that ran in it."""
    cards = [
        CardFact(
            r["card_uuid"], r["service"], r["topic"], r["issued_at"], r["mode"], r["suggestion_labels"],
            r["hook_instance"], r["knowledge_version"],
        )
        for r in audit_in_period(db, since, until, service, topic, version)
    ]  # fmt: skip
    feedback = [
        FeedbackFact(
            id=r["id"],
            service=r["service"],
            card_uuid=r["card_uuid"],
            outcome=r["outcome"],
            outcome_timestamp=r["outcome_timestamp"],
            accepted_suggestions=_accepted(r["accepted_suggestions"]),
            reason_code=_reason_code(r["override_reason"]),
        )
        for r in feedback_for_period_cards(db, since, until, service, topic, version)
    ]
    report = build_report(
        cards,
        feedback,
        calls_by_service=calls_by_service(db, since, until, service, version),
        unmatched_feedback=unmatched_feedback(db, since, until, service),
        fatigue=fatigue_rule(settings),
        modes=settings.topic_modes,
        displays=displays,
        since=since,
        until=until,
        service=service,
        topic=topic,
        audit_keys=[
            KeyPeriod(k.fingerprint, k.first, k.last, k.calls)
            for k in audit_keys_in_period(db, since, until, service)
        ],
    )
    known = known_versions(db)
    labels = {v: row.label for v, row in known.items()}
    by_version = calls_by_version(db, since, until, service)
    if version:
        wanted = None if version == UNVERSIONED else version
        by_version = {v: calls for v, calls in by_version.items() if v == wanted}
    report.versions = split_by_version(
        cards, feedback, calls_by_version=by_version, fatigue=report.fatigue, labels=labels,
        first_live={v: row.first_live for v, row in known.items()}, since=since, until=until,
        modes=settings.topic_modes, displays=displays,
    )  # fmt: skip
    report.weeks = mark_new_versions(report.weeks, report.versions)
    report.version = version
    report.current = knowledge_version(settings).as_json()
    report.shadow = compare_pilot(
        shadow_calls_in_period(db, since, until, service, version),
        shadow_cards_in_period(db, since, until, service, topic),
        labels=labels,
        first_shadow={v: row.first_shadow for v, row in known.items()},
        displays=displays,
    )
    return report
