"""What the calcium, magnesium, potassium and sodium rules share: how abnormal a result is,
whether a mild one deserves a warning, old results that ask for a recheck, and which results
were taken together.

Hospital teams see mildly abnormal electrolytes every day. Without documented twitching or
another neuromuscular symptom, and unless the value is falling, a mild abnormality is an info
card (or none, where the site says so: `mild_electrolyte_silent`); warnings are for what a
clinician should act on today. A result older than its window (`electrolyte_recent_days`) is
never acted on: an abnormal one gives an info card that offers the test again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from cds.engine.building import (
    condition_cause,
    evidence,
    ordered_unique,
    recommend_test,
    unique,
)
from cds.engine.compare import above, below
from cds.engine.facts import PatientFacts
from cds.engine.model import Cause, Evidence, Finding, Severity, Topic
from cds.knowledge import Knowledge
from cds.reader import LabResult
from cds.reader.dates import age_in_words

SAME_SAMPLE = timedelta(hours=24)  # results this close together describe one state of the patient


def is_low(result: LabResult, key: str, knowledge: Knowledge) -> bool:
    return below(result, key, knowledge) is True


def is_high(result: LabResult, key: str, knowledge: Knowledge) -> bool:
    return above(result, key, knowledge) is True


def at_or_above(result: LabResult, key: str, knowledge: Knowledge) -> bool:
    return below(result, key, knowledge) is False


def neuromuscular_symptoms(facts: PatientFacts) -> tuple[Cause, ...]:
    """Documented twitching or another neuromuscular symptom (tetany, cramps, paraesthesia,
    seizures): what makes a mild electrolyte abnormality worth a warning."""
    found = [*facts.conditions_in("twitching"), *facts.conditions_in("electrolyte-symptoms")]
    return unique(condition_cause(c) for c in found)


def falling(result: LabResult, facts: PatientFacts, knowledge: Knowledge, delta_key: str, low: bool) -> bool:
    """Whether the value is moving away from normal: each of the last results (up to three,
    this one included) further from normal than the one before, by at least `delta_key` in all.
    Values that go up and down, as intensive-care results do, are not a trend."""
    delta = knowledge.cutoffs[delta_key]
    before = result.when.instant
    earlier = [r.value for r in facts.recent_results(result.analyte) if r.when.instant < before][:2]
    values = [result.value, *earlier]  # newest first
    if len(values) < 2:
        return False
    worse = [values[i] < values[i + 1] if low else values[i] > values[i + 1] for i in range(len(values) - 1)]
    return all(worse) and abs(values[-1] - values[0]) >= delta


def with_previous(item: Evidence, result: LabResult, facts: PatientFacts) -> Evidence:
    """The evidence with the result before it, so the card shows which way the value is going:
    "previous 6.1 mmol/L, 6 hours earlier"."""
    before = result.when.instant
    previous = next((r for r in facts.recent_results(result.analyte) if r.when.instant < before), None)
    if previous is None:
        return item
    gap = age_in_words(previous.when.instant, before).replace(" ago", " earlier")
    if gap == "in the last hour":
        gap = "less than an hour earlier"
    words = f"previous {previous.reported}, {gap}"
    return replace(item, note=f"{item.note}; {words}" if item.note else words)


def mild_severity(
    result: LabResult, facts: PatientFacts, knowledge: Knowledge, delta_key: str, low: bool
) -> Severity | None:
    """A mild abnormality: a warning with symptoms or a worsening trend, else info (or no card)."""
    if neuromuscular_symptoms(facts) or falling(result, facts, knowledge, delta_key, low):
        return Severity.WARNING
    if knowledge.cutoffs["mild_electrolyte_silent"]:
        return None
    return Severity.INFO


def taken_together(a: LabResult, b: LabResult) -> bool:
    return abs(a.when.instant - b.when.instant) <= SAME_SAMPLE


def old_abnormal(facts: PatientFacts, analyte: str) -> LabResult | None:
    """The latest result of a test when it is too old to act on but within the look-back of a
    year (older results are history): a candidate for a recheck card."""
    latest = facts.latest(analyte)
    if latest is None or facts.is_recent(latest) or latest.when.day < facts.window_start:
        return None
    return latest


def recheck_finding(
    topic: Topic,
    title: str,
    result: LabResult,
    test_key: str,
    cutoff_key: str,
    op: str,
    facts: PatientFacts,
    knowledge: Knowledge,
    severe: tuple[str, str] | None = None,
) -> Finding:
    """An info card for an abnormal result too old to act on: recheck it (the test offered).
    How abnormal it was is kept (`severe`: the severe cut-off and its comparison): a severely
    low result of five weeks ago is rechecked, but the card still says it was severely low."""
    ago = facts.ago(result.when.instant)
    low, high = title.startswith("Low"), title.startswith("High")
    grade = "low" if low else "high" if high else ""
    if severe is not None and _beyond(result, severe[0], severe[1], knowledge):
        cutoff_key, op = severe
        grade = f"severely {grade}"
        title = title.replace("Low", "Severely low", 1).replace("High", "Severely high", 1)
    item = replace(evidence(result, knowledge, cutoff_key, op), grade=grade)
    return Finding(
        topic=topic,
        severity=Severity.INFO,
        title=f"Recheck {title[0].lower()}{title[1:]} ({ago})",
        primary=item,
        evidence=(item,),
        tests=(recommend_test(knowledge, test_key, f"rechecks the result of {result.when.day}"),),
        advice=("electrolyte-recheck",),
        sources=ordered_unique((item.source, "nice-cg174")),
    )


def _beyond(result: LabResult, key: str, op: str, knowledge: Knowledge) -> bool:
    if op == "<":
        return is_low(result, key, knowledge)
    return at_or_above(result, key, knowledge) if op == ">=" else is_high(result, key, knowledge)
