"""The committee's figures: per service and topic, how often a rule fired and what came of it.

Pure: audit rows, feedback rows and call counts in, a `Report` out. Definitions:

- shown: cards returned to the EHR; silent: cards built for a silent topic, never returned.
- a shown card's outcome is its latest feedback (by the EHR's outcome timestamp; repeated
  feedback for one card counts once); a card without feedback counts as no feedback.
- acceptance and override rates are over shown cards, so cards nobody acted on lower both.
- unmatched feedback: feedback received in the period for a card this service never
  returned (never issued, issued silently, or issued by another service).
- fatigue risk: over a topic's most recent `window` shown cards in the period, the share
  overridden reaches `threshold` (and there are at least `min_cards` of them).
- audit keys: the keys the period's calls were pseudonymised with (by fingerprint). Under a new
  key a patient has a new pseudonym, so patients cannot be followed across a rotation.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cds.governance.comparison import ShadowComparison

UNSPECIFIED_REASON = "unspecified"
UNKNOWN_SUGGESTION = "unknown suggestion"


@dataclass(frozen=True)
class CardFact:
    card_uuid: str
    service: str
    topic: str
    issued_at: datetime
    mode: str
    suggestions: Mapping[str, str] = field(default_factory=dict)  # uuid -> label
    hook_instance: str = ""  # the call it was built on
    knowledge_version: str | None = None  # the rules that built it; None: kept before versions were

    @property
    def call(self) -> str:
        return self.hook_instance or self.card_uuid


@dataclass(frozen=True)
class FeedbackFact:
    id: int
    service: str
    card_uuid: str
    outcome: str  # "accepted" | "overridden"
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...] = ()
    reason_code: str | None = None


@dataclass(frozen=True)
class KeyPeriod:
    """The calls answered under one audit key: its fingerprint (None: recorded before
    fingerprints were kept), the first and last of them, and how many."""

    fingerprint: str | None
    first: datetime
    last: datetime
    calls: int


def rotation_note(keys: Sequence[KeyPeriod]) -> str | None:
    """One sentence when the period's pseudonyms come from more than one audit key, else None."""
    known = [k for k in keys if k.fingerprint is not None]
    if len(known) < 2:
        return None
    spans = ", then ".join(f"{k.fingerprint} ({k.first:%Y-%m-%d} to {k.last:%Y-%m-%d})" for k in known)
    return (
        f"Patient pseudonyms in this period were made with {len(known)} audit keys: {spans}. A patient "
        "has a different pseudonym under each key, so patients are not followed across a key change."
    )


@dataclass(frozen=True)
class FatigueRule:
    window: int = 50
    threshold: float = 0.7
    min_cards: int = 10


@dataclass
class TopicFigures:
    service: str
    topic: str
    display: str
    mode: str
    shown: int = 0
    silent: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: Counter[str] = field(default_factory=Counter)
    accepted_suggestions: Counter[str] = field(default_factory=Counter)
    recent_cards: int = 0
    recent_overridden: int = 0
    fatigue_risk: bool = False
    calls: int = 0  # calls of the service, for the firing rate
    shown_calls: int = 0  # calls on which a card of the topic was shown
    silent_calls: int = 0  # calls on which it was recorded silently: would have fired, had it been on

    @property
    def no_feedback(self) -> int:
        return self.shown - self.accepted - self.overridden

    @property
    def acceptance_rate(self) -> float | None:
        return _rate(self.accepted, self.shown)

    @property
    def override_rate(self) -> float | None:
        return _rate(self.overridden, self.shown)

    @property
    def recent_override_rate(self) -> float | None:
        return _rate(self.recent_overridden, self.recent_cards)

    @property
    def firing_rate(self) -> float | None:
        """Cards (shown or silent) per call answered by the service."""
        return _rate(self.shown + self.silent, self.calls)

    @property
    def shown_call_share(self) -> float | None:
        return _rate(self.shown_calls, self.calls)

    @property
    def silent_call_share(self) -> float | None:
        """The silent pilot's firing rate: the share of the service's calls it would have shown on."""
        return _rate(self.silent_calls, self.calls)

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "topic": self.topic,
            "display": self.display,
            "mode": self.mode,
            "shown": self.shown,
            "silent": self.silent,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "noFeedback": self.no_feedback,
            "acceptanceRate": _round(self.acceptance_rate),
            "overrideRate": _round(self.override_rate),
            "firingRate": _round(self.firing_rate),
            "shownCalls": self.shown_calls,
            "shownCallShare": _round(self.shown_call_share),
            "silentCalls": self.silent_calls,
            "silentCallShare": _round(self.silent_call_share),
            "overrideReasons": dict(self.override_reasons.most_common()),
            "acceptedSuggestions": dict(self.accepted_suggestions.most_common()),
            "recentCards": self.recent_cards,
            "recentOverrideRate": _round(self.recent_override_rate),
            "fatigueRisk": self.fatigue_risk,
        }


@dataclass(frozen=True)
class Week:
    start: date  # Monday
    shown: int
    accepted: int
    overridden: int
    silent: int
    new_versions: tuple[str, ...] = ()  # knowledge versions that first answered a call this week

    @property
    def no_feedback(self) -> int:
        return self.shown - self.accepted - self.overridden


@dataclass
class VersionFigures:
    """The figures of the calls and cards one knowledge version answered in the period."""

    version: str | None  # None: records kept before versions were (shown as "unversioned")
    label: str
    first_live: datetime | None  # when it first answered a call, wherever that falls
    took_effect: bool  # first_live falls in the period: the switch to it is in these figures
    calls_by_service: dict[str, int]
    topics: list[TopicFigures]

    @property
    def calls(self) -> int:
        return sum(self.calls_by_service.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "label": self.label,
            "firstLive": self.first_live.isoformat() if self.first_live else None,
            "tookEffect": self.took_effect,
            "calls": self.calls,
            "callsByService": dict(sorted(self.calls_by_service.items())),
            "topics": [t.as_json() for t in self.topics],
        }


@dataclass
class Report:
    since: datetime | None
    until: datetime | None
    service: str | None
    calls: int
    calls_by_service: dict[str, int]
    unmatched_feedback: int
    topics: list[TopicFigures]
    weeks: list[Week]
    fatigue: FatigueRule
    topic: str | None = None  # the one topic the report is about, when filtered
    version: str | None = None  # the one knowledge version, when filtered ("unversioned" too)
    current: Mapping[str, str] | None = None  # the knowledge version the configuration runs now
    versions: list[VersionFigures] = field(default_factory=list)  # the figures split by version
    shadow: list[ShadowComparison] = field(default_factory=list)  # shadow pilots in the period
    audit_keys: list[KeyPeriod] = field(default_factory=list)  # in the order they came into use

    @property
    def rotation_note(self) -> str | None:
        return rotation_note(self.audit_keys)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "service": self.service,
            "topic": self.topic,
            "version": self.version,
            "knowledgeVersion": dict(self.current) if self.current else None,
            "calls": self.calls,
            "callsByService": self.calls_by_service,
            "unmatchedFeedback": self.unmatched_feedback,
            "fatigue": {
                "window": self.fatigue.window,
                "threshold": self.fatigue.threshold,
                "minCards": self.fatigue.min_cards,
            },
            "auditKeys": [
                {
                    "fingerprint": k.fingerprint,
                    "firstCall": k.first.isoformat(),
                    "lastCall": k.last.isoformat(),
                    "calls": k.calls,
                }
                for k in self.audit_keys
            ],
            "topics": [t.as_json() for t in self.topics],
            "weeks": [
                {
                    "start": w.start.isoformat(),
                    "shown": w.shown,
                    "silent": w.silent,
                    "accepted": w.accepted,
                    "overridden": w.overridden,
                    "noFeedback": w.no_feedback,
                    "newVersions": list(w.new_versions),
                }
                for w in self.weeks
            ],
            "versions": [v.as_json() for v in self.versions],
            "shadow": [c.as_json() for c in self.shadow],
        }

    @property
    def flagged(self) -> list[TopicFigures]:
        return [t for t in self.topics if t.fatigue_risk]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _instant(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def final_outcomes(feedback: Iterable[FeedbackFact]) -> dict[str, FeedbackFact]:
    """Card uuid -> its latest feedback: the EHR's outcome time decides, arrival order breaks ties."""
    latest: dict[str, tuple[tuple[datetime, int], FeedbackFact]] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    for item in feedback:
        key = (_instant(item.outcome_timestamp) or floor, item.id)
        current = latest.get(item.card_uuid)
        if current is None or key > current[0]:
            latest[item.card_uuid] = (key, item)
    return {uuid: item for uuid, (_key, item) in latest.items()}


def week_start(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def build_report(
    cards: Sequence[CardFact],
    feedback: Iterable[FeedbackFact],
    *,
    calls_by_service: Mapping[str, int],
    unmatched_feedback: int,
    fatigue: FatigueRule,
    modes: Mapping[str, str] | None = None,
    displays: Mapping[str, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    service: str | None = None,
    topic: str | None = None,
    audit_keys: Sequence[KeyPeriod] = (),
) -> Report:
    modes = modes or {}
    displays = displays or {}
    only_topic = topic  # the name is reused below for each topic's figures
    # Feedback only counts for a card the same service returned (silent cards were never seen).
    shown_by_uuid = {c.card_uuid: c for c in cards if c.mode == "active"}
    outcomes = final_outcomes(
        f for f in feedback if (c := shown_by_uuid.get(f.card_uuid)) is not None and c.service == f.service
    )
    figures: dict[tuple[str, str], TopicFigures] = {}
    for card in cards:
        key = (card.service, card.topic)
        topic = figures.get(key)
        if topic is None:
            topic = figures[key] = TopicFigures(
                service=card.service,
                topic=card.topic,
                display=displays.get(card.topic, card.topic),
                mode=modes.get(card.topic, "active"),
                calls=calls_by_service.get(card.service, 0),
            )
        if card.mode != "active":
            topic.silent += 1
            continue
        topic.shown += 1
        outcome = outcomes.get(card.card_uuid)
        if outcome is None:
            continue
        if outcome.outcome == "accepted":
            topic.accepted += 1
            for suggestion in outcome.accepted_suggestions:
                topic.accepted_suggestions[card.suggestions.get(suggestion, UNKNOWN_SUGGESTION)] += 1
        else:
            topic.overridden += 1
            topic.override_reasons[outcome.reason_code or UNSPECIFIED_REASON] += 1

    calls_of: dict[tuple[str, str, str], set[str]] = {}
    for card in cards:
        calls_of.setdefault((card.service, card.topic, card.mode), set()).add(card.call)
    for (service_id, code, mode), hooks in calls_of.items():
        if mode == "active":
            figures[(service_id, code)].shown_calls = len(hooks)
        else:
            figures[(service_id, code)].silent_calls = len(hooks)

    by_topic: dict[tuple[str, str], list[CardFact]] = {}
    for card in cards:
        if card.mode == "active":
            by_topic.setdefault((card.service, card.topic), []).append(card)
    for key, shown in by_topic.items():
        recent = sorted(shown, key=lambda c: (c.issued_at, c.card_uuid), reverse=True)[: fatigue.window]
        topic = figures[key]
        topic.recent_cards = len(recent)
        topic.recent_overridden = sum(
            1 for c in recent if (o := outcomes.get(c.card_uuid)) is not None and o.outcome == "overridden"
        )
        rate = topic.recent_override_rate
        topic.fatigue_risk = (
            rate is not None and topic.recent_cards >= fatigue.min_cards and rate >= fatigue.threshold
        )

    weeks: dict[date, list[int]] = {}
    for card in cards:
        counts = weeks.setdefault(week_start(card.issued_at), [0, 0, 0, 0])
        if card.mode != "active":
            counts[3] += 1
            continue
        counts[0] += 1
        outcome = outcomes.get(card.card_uuid)
        if outcome is not None:
            counts[1 if outcome.outcome == "accepted" else 2] += 1

    return Report(
        since=since,
        until=until,
        service=service,
        calls=sum(calls_by_service.values()),
        calls_by_service=dict(sorted(calls_by_service.items())),
        unmatched_feedback=unmatched_feedback,
        topics=sorted(figures.values(), key=lambda t: (t.service, t.topic)),
        weeks=[Week(start, *weeks[start]) for start in sorted(weeks)],
        fatigue=fatigue,
        topic=only_topic,
        audit_keys=list(audit_keys),
    )


# --- output forms -------------------------------------------------------------------------

CSV_COLUMNS = (
    "service", "topic", "mode", "shown", "silent", "accepted", "overridden", "noFeedback",
    "acceptanceRate", "overrideRate", "firingRate", "overrideReasons", "acceptedSuggestions",
    "recentCards", "recentOverrideRate", "fatigueRisk", "serviceCalls",
    "shownCalls", "shownCallShare", "silentCalls", "silentCallShare",
)  # fmt: skip


def _pairs(counts: Mapping[str, int]) -> str:
    return "; ".join(f"{name}={count}" for name, count in counts.items())


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for topic in report.topics:
        row = topic.as_json()
        writer.writerow(
            [
                *(row[c] for c in CSV_COLUMNS[:11]),
                _pairs(row["overrideReasons"]),
                _pairs(row["acceptedSuggestions"]),
                row["recentCards"],
                row["recentOverrideRate"],
                "FATIGUE RISK" if topic.fatigue_risk else "",
                topic.calls,
                *(row[c] for c in CSV_COLUMNS[17:]),
            ]
        )
    return out.getvalue()


def fit(text: str, length: int) -> str:
    """At most `length` characters, an ellipsis marking a cut: a chart's label column is fixed."""
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def call_share(calls: int, share: float | None) -> str:
    """'24 (8.8%)': calls and their share of the service's calls; a small share keeps a decimal."""
    if not calls:
        return "-"
    if share is None:
        return str(calls)
    text = f"{share * 100:.1f}%" if share < 0.1 else f"{share * 100:.0f}%"
    return f"{calls} ({text})"


def as_table(report: Report) -> str:
    """The report for a terminal: the figures per topic, then split by knowledge version, then
    any shadow pilot's comparison."""
    return _topics_table(report) + versions_table(report) + shadow_table(report.shadow)


def version_name(version: str | None, label: str = "") -> str:
    name = version or "unversioned"
    return f"{name} ({label})" if label else name


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
    return lines


def versions_table(report: Report) -> str:
    """Every figure of the period per knowledge version, and when each took effect."""
    current = report.current or {}
    now = version_name(current.get("version"), current.get("label", "")) if current else "-"
    lines = ["", f"By knowledge version (the configuration runs {now}):"]
    if not report.versions:
        return "\n".join([*lines, "No calls in this period.", ""]) + "\n"
    for v in report.versions:
        started = f"{v.first_live:%Y-%m-%d %H:%M} UTC" if v.first_live else "-"
        effect = f"took effect {started}" if v.took_effect else f"in use before the period (first {started})"
        if v.version is None:
            effect = "kept before versions were recorded"
        lines.append(f"  {version_name(v.version, v.label)}: {v.calls} calls, {effect}")
    header = ("version", "service", "topic", "shown", "silent", "shown on calls", "silent on calls",
              "accepted", "overridden", "accept", "override")  # fmt: skip
    rows = [
        (
            v.version or "unversioned", t.service, t.topic, str(t.shown), str(t.silent),
            call_share(t.shown_calls, t.shown_call_share), call_share(t.silent_calls, t.silent_call_share),
            str(t.accepted), str(t.overridden), percent(t.acceptance_rate), percent(t.override_rate),
        )
        for v in report.versions
        for t in v.topics
    ]  # fmt: skip
    if rows:
        lines += ["", *_aligned(header, rows, set(range(3, 11)))]
    return "\n".join(lines) + "\n"


def shadow_table(comparisons: Sequence[ShadowComparison]) -> str:
    """Each shadow pilot of the period: live against candidate, per topic."""
    lines: list[str] = []
    for c in comparisons:
        share = c.changed_share
        lines += [
            "",
            f"Shadow pilot of {version_name(c.candidate, c.label)} against live "
            f"{', '.join(c.live_versions)}: assessed on {c.calls} calls; the answer would change on "
            f"{call_share(c.changed_calls, share) if c.changed_calls else '0'}",
        ]
        header = ("service", "topic", "live fired on", "candidate on", "appear", "disappear",
                  "indicator", "wording", "calls changed")  # fmt: skip
        changed = [t for t in c.topics if t.changed_calls]
        rows = [
            (t.service, t.topic, str(t.live_calls), str(t.candidate_calls), str(t.appear), str(t.disappear),
             str(t.indicator_changed), str(t.content_changed), str(t.changed_calls))
            for t in changed
        ]  # fmt: skip
        if rows:
            lines += _aligned(header, rows, set(range(2, 9)))
        if len(changed) < len(c.topics):
            lines.append(f"{len(c.topics) - len(changed)} other topics fired and would not change "
                         "(all in --format json).")  # fmt: skip
    if lines:
        lines += [
            "",
            "live fired on / candidate on: calls on which the topic's card was built (shown or silent);",
            "appear / disappear: cards the clinician would newly see / no longer see; indicator, wording:",
            "cards shown under both whose indicator / wording or suggestions would change.",
        ]
    return "\n".join(lines) + ("\n" if lines else "")


def _topics_table(report: Report) -> str:
    period = f"{_when(report.since)} to {_when(report.until)}"
    by_service = ", ".join(f"{s} {n}" for s, n in report.calls_by_service.items())
    lines = [
        f"Card report, {period}"
        + (f", service {report.service}" if report.service else "")
        + (f", topic {report.topic}" if report.topic else "")
        + (f", knowledge version {report.version}" if report.version else ""),
        f"Calls answered: {report.calls}" + (f" ({by_service})" if report.calls else ""),
        f"Feedback for cards never shown (unmatched): {report.unmatched_feedback}",
        f"Fatigue risk: override rate >= {percent(report.fatigue.threshold)} over the last "
        f"{report.fatigue.window} shown cards (at least {report.fatigue.min_cards})",
        *([report.rotation_note] if report.rotation_note else []),
        "",
    ]
    header = ("service", "topic", "mode", "shown", "silent", "shown on calls", "silent on calls",
              "accepted", "overridden", "no fb", "accept", "override", "fatigue")  # fmt: skip
    rows = [
        (
            t.service,
            t.topic,
            t.mode,
            str(t.shown),
            str(t.silent),
            call_share(t.shown_calls, t.shown_call_share),
            call_share(t.silent_calls, t.silent_call_share),
            str(t.accepted),
            str(t.overridden),
            str(t.no_feedback),
            percent(t.acceptance_rate),
            percent(t.override_rate),
            f"RISK {percent(t.recent_override_rate)}" if t.fatigue_risk else "",
        )
        for t in report.topics
    ]
    if not rows:
        lines.append("No cards in this period.")
        return "\n".join(lines) + "\n"
    lines += _aligned(header, rows, set(range(3, 12)))
    lines.append("")
    lines.append("shown on / silent on calls: calls of the service on which the topic's card was shown /")
    lines.append("recorded silently (a silent topic would have shown on these), with their share of calls.")
    details = [t for t in report.topics if t.override_reasons or t.accepted_suggestions]
    if details:
        lines.append("")
    for t in details:
        lines.append(f"{t.service} / {t.topic}")
        if t.override_reasons:
            lines.append("  override reasons: " + _pairs(dict(t.override_reasons.most_common())))
        if t.accepted_suggestions:
            lines.append("  accepted suggestions: " + _pairs(dict(t.accepted_suggestions.most_common())))
    return "\n".join(lines) + "\n"


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "(any)"


def parse_bound(text: str, *, end: bool = False) -> datetime:
    """A period bound: an ISO 8601 date or instant (UTC when no zone is given). A date as the
    end of a period includes that whole day."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):  # the day after 9999-12-31 does not exist
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
