"""Potassium and sodium out of range: one card, graded as the guidelines grade them, with what
to do now.

Potassium (UK Kidney Association 2020): above 5.5 high (5.6-5.9 mild: repeat, a haemolysed
sample raises it falsely), 6.0-6.4 moderate (ECG now, urgent repeat, stop potassium-raising
medicines), 6.5 or more severe (treatment starts while the repeat runs); below 3.5 low (3.3-3.4
mild), below 2.5 severe (replace with monitoring, ECG, correct magnesium).
Sodium (European guideline 2014): below 135 low (130-134 mild, 125-129 moderate, below 125
profound); above 145 high, 155 or more needs free water and a slow fall, above 160 severe.
A mild value without neuromuscular symptoms or a worsening trend is not a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cds.engine.building import (
    DIURETICS,
    condition_cause,
    current_medication_causes,
    evidence,
    lab_gaps,
    ordered_unique,
    preliminary,
    recommend_test,
    unique,
)
from cds.engine.electrolyte_grading import (
    at_or_above,
    is_high,
    is_low,
    mild_severity,
    old_abnormal,
    recheck_finding,
    with_previous,
)
from cds.engine.facts import PatientFacts
from cds.engine.model import SEVERITY_ORDER, Cause, Evidence, Finding, Severity, TestRecommendation, Topic
from cds.engine.rules_magnesium import magnesium_test_needed
from cds.knowledge import Knowledge
from cds.reader import LabResult


@dataclass(frozen=True)
class Graded:
    analyte: str
    low: bool
    grade: str  # "severely low", "low", "slightly low", "moderately high"...
    severity: Severity
    item: Evidence
    advice: str  # what to do now (notes.json key)
    mild: bool = False


def _grade(
    result: LabResult, facts: PatientFacts, knowledge: Knowledge, steps: tuple, delta_key: str
) -> Graded | None:
    """The first step whose test the result passes: (cut-off key, op, low?, grade, severity or
    None for mild, advice)."""
    for key, op, low, grade, severity, advice in steps:
        passes = (
            is_low(result, key, knowledge)
            if op == "<"
            else (at_or_above(result, key, knowledge) if op == ">=" else is_high(result, key, knowledge))
        )
        if not passes:
            continue
        mild = severity is None
        if mild:
            severity = mild_severity(result, facts, knowledge, delta_key, low)
            if severity is None:
                return None
        item = with_previous(replace(evidence(result, knowledge, key, op), grade=grade), result, facts)
        return Graded(result.analyte, low, grade, severity, item, advice, mild)
    return None


def _potassium(result: LabResult, facts: PatientFacts, knowledge: Knowledge) -> Graded | None:
    steps = (
        ("potassium_severe_low", "<", True, "severely low", Severity.CRITICAL, "potassium-severe-low-act"),
        ("potassium_mild_low", "<", True, "low", Severity.WARNING, "potassium-low-replace"),
        ("potassium_low", "<", True, "slightly low", None, "potassium-low-replace"),
        (
            "potassium_severe_high",
            ">=",
            False,
            "severely high",
            Severity.CRITICAL,
            "potassium-severe-high-act",
        ),
        (
            "potassium_moderate_high",
            ">=",
            False,
            "moderately high",
            Severity.WARNING,
            "potassium-moderate-high-act",
        ),
        ("potassium_high", ">", False, "slightly high", None, "potassium-mild-high-repeat"),
    )
    return _grade(result, facts, knowledge, steps, "potassium_trend_delta")


def _sodium(result: LabResult, facts: PatientFacts, knowledge: Knowledge) -> Graded | None:
    overloaded = bool(facts.conditions_in("volume-overload"))
    low_advice = "sodium-low-overload" if overloaded else "sodium-low-assess"
    steps = (
        ("sodium_severe_low", "<", True, "profoundly low", Severity.CRITICAL, "sodium-severe-slowly"),
        ("sodium_mild_low", "<", True, "moderately low", Severity.WARNING, low_advice),
        ("sodium_low", "<", True, "slightly low", None, low_advice),
        ("sodium_severe_high", ">", False, "severely high", Severity.CRITICAL, "sodium-high-act"),
        ("sodium_urgent_high", ">=", False, "markedly high", Severity.WARNING, "sodium-high-act"),
        ("sodium_high", ">", False, "high", Severity.WARNING, "sodium-high-fluids"),
    )
    return _grade(result, facts, knowledge, steps, "sodium_trend_delta")


def _causes(found: list[Graded], facts: PatientFacts) -> tuple[list[Cause], list[Cause]]:
    """(likely causes, records that change what to do) for these abnormalities."""
    low = {g.analyte for g in found if g.low}
    high = {g.analyte for g in found if not g.low}
    causes: list[Cause] = []
    on_record: list[Cause] = []
    if low:
        causes += current_medication_causes(facts, DIURETICS)
    if "potassium" in low:
        causes += current_medication_causes(facts, ("systemic-corticosteroid",))
        if facts.meds("digoxin"):  # not a cause of the low potassium, but what makes it dangerous
            on_record += current_medication_causes(facts, ("digoxin",))
    if "potassium" in high:
        causes += current_medication_causes(facts, ("potassium-raising",))
        causes += [
            condition_cause(c) for c in facts.conditions_in("calcium-causes") if c.member == "kidney-injury"
        ]
    if "sodium" in low:  # the condition that holds water: named on record, which the advice refers to
        on_record += [condition_cause(c) for c in facts.conditions_in("volume-overload")]
    return causes, on_record


def _tests(found: list[Graded], facts: PatientFacts, knowledge: Knowledge) -> tuple[TestRecommendation, ...]:
    if any(g.analyte == "potassium" and g.low and not g.mild for g in found) and magnesium_test_needed(facts):
        why = "low potassium does not correct while magnesium is low"
        return (recommend_test(knowledge, "magnesium", why),)
    return ()


def _title(found: list[Graded]) -> str:
    words = [f"{g.grade} {g.analyte}" for g in found]
    title = " and ".join(words)
    return title[0].upper() + title[1:]


def _electrolytes(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    found: list[Graded] = []
    for analyte, grade in (("potassium", _potassium), ("sodium", _sodium)):
        result = facts.recent(analyte)
        graded = grade(result, facts, knowledge) if result is not None else None
        if graded is not None:
            found.append(graded)
    if not found:
        return _recheck(facts, knowledge)
    found.sort(key=lambda g: SEVERITY_ORDER[g.severity])  # the most severe leads (stable otherwise)
    items = tuple(g.item for g in found)
    causes, on_record = _causes(found, facts)
    notes = []
    if any(g.analyte == "potassium" and g.low for g in found) and facts.meds("digoxin"):
        notes.append("potassium-digoxin")
    if facts.conditions_in("twitching"):
        notes.append("electrolytes-twitching")
    if preliminary(items):
        notes.append("preliminary-result")
    advice = [g.advice for g in found]
    return Finding(
        topic=Topic.ELECTROLYTE_IMBALANCE,
        severity=found[0].severity,
        title=_title(found),
        primary=items[0],
        evidence=items,
        causes=unique(causes),
        gaps=tuple(lab_gaps(facts, ("potassium", "sodium"), knowledge)),
        tests=_tests(found, facts, knowledge),
        notes=tuple(notes),
        # the guidelines behind the grades and the advice (UKKA 2020, the hyponatraemia and
        # hypernatraemia guidelines), not a general article
        sources=ordered_unique((*(e.source for e in items), *(knowledge.note_sources[a] for a in advice))),
        advice=ordered_unique(advice),
        on_record=unique(on_record),
    )


_SEVERE_HIGH_OP = {"potassium": ">=", "sodium": ">"}


def _recheck(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    """No recent potassium or sodium out of range: an old abnormal one asks for a recheck."""
    for analyte in ("potassium", "sodium"):
        old = old_abnormal(facts, analyte)
        if old is None:
            continue
        if is_low(old, f"{analyte}_low", knowledge):
            return recheck_finding(
                Topic.ELECTROLYTE_IMBALANCE, f"Low {analyte}", old, analyte, f"{analyte}_low", "<", facts,
                knowledge, severe=(f"{analyte}_severe_low", "<"),
            )  # fmt: skip
        if is_high(old, f"{analyte}_high", knowledge):
            return recheck_finding(
                Topic.ELECTROLYTE_IMBALANCE, f"High {analyte}", old, analyte, f"{analyte}_high", ">", facts,
                knowledge, severe=(f"{analyte}_severe_high", _SEVERE_HIGH_OP[analyte]),
            )  # fmt: skip
    return None


def potassium_sodium_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    found = _electrolytes(facts, knowledge)
    return [found] if found is not None else []
