"""assess(): the guideline engine's entry point for a chart (patient-view)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cds.engine.building import for_age, unavailable_gaps
from cds.engine.caveats import choose_caveats
from cds.engine.facts import PatientFacts, patient_facts
from cds.engine.guard import guard
from cds.engine.medication_gaps import medication_record_gaps
from cds.engine.model import SEVERITY_ORDER, Finding, Severity, Topic
from cds.engine.rules_b12 import b12_findings
from cds.engine.rules_electrolytes import electrolyte_findings
from cds.engine.rules_twitching import twitching_findings
from cds.engine.rules_unreadable import explain_repeats
from cds.engine.shared_tests import offer_each_test_once
from cds.knowledge import Knowledge
from cds.reader import Chart, KeyProblem, KeyState, read_chart

# When the twitching work-up already asks for a test, the narrower testing finding is dropped.
_COVERED_BY_WORKUP = {
    Topic.B12_TESTING_RECOMMENDED: "b12_total",
    Topic.MAGNESIUM_TESTING_RECOMMENDED: "magnesium",
}

# Every topic a chart assessment can produce (the order topics come from assess_orders).
CHART_TOPICS: tuple[Topic, ...] = tuple(
    t for t in Topic if t not in (Topic.B12_DUPLICATE_THERAPY, Topic.FOLATE_WITHOUT_B12)
)


@dataclass(frozen=True)
class Assessment:
    """The findings, most severe first and at most one per topic, and the facts behind them."""

    findings: tuple[Finding, ...]
    facts: PatientFacts


def _suppress_covered(findings: list[Finding], hidden: Collection[str]) -> list[Finding]:
    workup = next((f for f in findings if f.topic == Topic.TWITCHING_WORKUP), None)
    # A work-up the clinician will not see (silent or off) must not take the narrower cards away.
    if workup is None or workup.topic.value in hidden:
        return findings
    requested = {t.key for t in workup.tests}
    return [f for f in findings if _COVERED_BY_WORKUP.get(f.topic) not in requested]


def in_card_order(findings: Iterable[Finding]) -> list[Finding]:
    """At most one finding per topic (the first), the most severe first (stable otherwise)."""
    seen: set[Topic] = set()
    unique = []
    for finding in findings:
        if finding.topic not in seen:
            seen.add(finding.topic)
            unique.append(finding)
    unique.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return unique


def assess_chart(
    chart: Chart, now: datetime, knowledge: Knowledge, hidden_topics: Collection[str] = ()
) -> Assessment:
    """Findings for one patient's chart as the reader read it.

    `hidden_topics` are topic codes whose cards will not be shown (a site runs them silently or
    not at all): such a topic still gives its finding but absorbs no other topic's finding.
    """
    facts = patient_facts(chart, now, knowledge)
    if facts.deceased:
        return Assessment(findings=(), facts=facts)  # no advice for a patient who has died
    findings = [
        *twitching_findings(facts, knowledge),
        *b12_findings(facts, knowledge),
        *electrolyte_findings(facts, knowledge),
    ]
    if facts.conditions_in("goals-of-care"):
        # Do-not-resuscitate, comfort or palliative care on record: only what is critical now,
        # said with the care plan in mind, and no routine tests.
        findings = [
            replace(
                f,
                tests=(),
                notes=("goals-of-care", *f.notes),
                fitting_notes=("goals-of-care", *f.fitting_notes),
            )
            for f in findings
            if f.severity is Severity.CRITICAL
        ]
    hidden = frozenset(hidden_topics)
    findings = _suppress_covered(findings, hidden)
    findings = medication_record_gaps(findings, facts)
    findings = explain_repeats(findings, facts, knowledge)
    findings = offer_each_test_once(finish(findings, facts, knowledge), hidden)
    checked = choose_caveats(guard(findings, facts, knowledge), facts, knowledge)
    return Assessment(findings=tuple(_links_to_shown_cards(checked, hidden)), facts=facts)


def _links_to_shown_cards(findings: list[Finding], hidden: Collection[str]) -> list[Finding]:
    """A card points only at cards the clinician will see: not at one that goals of care, a
    silent topic or the one-order-per-test rule took away."""
    shown = {f.title for f in findings if f.topic.value not in hidden}
    return [
        replace(f, see_also=tuple(t for t in f.see_also if t in shown))
        if any(t not in shown for t in f.see_also)
        else f
        for f in findings
    ]


def _dated(finding: Finding, facts: PatientFacts, taken: Mapping[str, datetime]) -> Finding:
    """Each evidence row says how long ago its result was taken (a derived value: its first input)."""
    rows = []
    for item in finding.evidence:
        when = taken.get(item.reference.split(" + ")[0])
        rows.append(replace(item, ago=facts.ago(when)) if when is not None else item)
    primary = finding.primary
    if primary is not None and primary in finding.evidence:
        primary = rows[finding.evidence.index(primary)]
    return replace(finding, evidence=tuple(rows), primary=primary)


def finish(findings: list[Finding], facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    """What every assessment does last: each finding names the prefetch parts that were not
    available (older results only where the finding asks for what is missing), says how old
    each result is, cites no source written for older patients; one per topic, most severe first."""
    taken: dict[str, datetime] = {}
    if any(f.evidence for f in findings):
        taken = {r.reference: r.when.instant for results in facts.labs.values() for r in results}
    done = []
    for finding in findings:
        missing = tuple(unavailable_gaps(facts, asks_for_missing=bool(finding.tests)))
        finding = replace(finding, gaps=finding.gaps + missing) if missing else finding
        if finding.evidence:
            finding = _dated(finding, facts, taken)
        done.append(for_age(finding, facts, knowledge))
    return in_card_order(done)


def key_states(unavailable: Mapping[str, str | KeyState] | None) -> dict[str, KeyState]:
    """Prefetch keys given as missing: a KeyState, or a reason in words (not sent)."""
    return {
        key: state if isinstance(state, KeyState) else KeyState(key, KeyProblem.NOT_SENT, str(state))
        for key, state in (unavailable or {}).items()
    }


def assess(
    resources: Mapping[str, Any],
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    unavailable: Mapping[str, str | KeyState] | None = None,
    hidden_topics: Collection[str] = (),
) -> Assessment:
    """Findings for one patient from FHIR R4 JSON (by prefetch key) and "now": read, then
    assess. Never raises on malformed resources: they are set aside with their reason."""
    chart = read_chart(resources, patient_id, now, knowledge, key_states(unavailable))
    return assess_chart(chart, now, knowledge, hidden_topics)
