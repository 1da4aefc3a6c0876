"""Twitching rules: red flags first, then the tests a twitching work-up still lacks."""

from __future__ import annotations

from dataclasses import replace

from cds.engine.building import (
    B12_RISK_MEDICATIONS,
    DIURETICS,
    condition_cause,
    current_medication_causes,
    lab_gaps,
    recommend_test,
    unique,
)
from cds.engine.calcium_correction import tests_to_read_calcium
from cds.engine.facts import PatientFacts
from cds.engine.model import Finding, Severity, TestRecommendation, Topic
from cds.knowledge import Knowledge

WORKUP_ANALYTES = (
    "b12_total",
    "holotc",
    "magnesium",
    "calcium_total",
    "calcium_ionized",
    "calcium_corrected",
    "albumin",
    "potassium",
    "sodium",
)
# Medicines that can themselves cause or worsen twitching (through the electrolytes they lower).
TWITCHING_DRUGS = (*DIURETICS, "systemic-corticosteroid")
DRUG_CAUSES = (*B12_RISK_MEDICATIONS, *TWITCHING_DRUGS)


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _red_flags(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    twitching = facts.conditions_in("twitching")
    flags = facts.conditions_in("red-flags")
    if not twitching or not flags:
        return None
    kinds = {c.member: knowledge.member("red-flags", c.member) for c in flags}
    symptoms = [c for c in flags if (m := kinds[c.member]) is None or m.kind != "diagnosis"]
    diagnoses = [c for c in flags if c not in symptoms]
    # The summary names what was found, symptoms first: "Twitching with limb weakness: ..."
    members = [m for c in (*symptoms, *diagnoses) if (m := kinds[c.member]) is not None]
    named = list(dict.fromkeys(m.flag or m.display.lower() for m in members))
    return Finding(
        topic=Topic.TWITCHING_RED_FLAGS,
        severity=Severity.CRITICAL,
        title=f"Twitching with {_joined(named)}: assess promptly",
        symptoms=unique(condition_cause(c) for c in (*twitching, *symptoms)),
        on_record=unique(condition_cause(c) for c in diagnoses),
        notes=("twitching-red-flags",),
        sources=("b12-fasciculation-differential", "twitching-deficiencies"),
    )


def missing_workup_tests(facts: PatientFacts, knowledge: Knowledge) -> list[TestRecommendation]:
    """The tests of the twitching work-up with no result in the last 12 months. A work-up asks
    whether each cause was looked for: a normal magnesium of two months ago answers it, though
    it is too old to act on if it were low (the electrolyte cards judge that)."""
    why = f"part of the twitching work-up; no usable result in the last {facts.recent_months} months"
    tests = []
    if facts.on_file("b12_total") is None and facts.on_file("holotc") is None:
        tests.append(recommend_test(knowledge, "b12_total", why))
    if facts.on_file("magnesium") is None:
        tests.append(recommend_test(knowledge, "magnesium", why))
    for test in tests_to_read_calcium(facts, knowledge, within_year=True):
        tests.append(replace(test, reason=why) if test.key == "calcium" and not test.repeat else test)
    for analyte in ("potassium", "sodium"):
        if facts.on_file(analyte) is None:
            tests.append(recommend_test(knowledge, analyte, why))
    return tests


def _workup(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    twitching = facts.conditions_in("twitching")
    if not twitching or not facts.results_known(*WORKUP_ANALYTES):
        return None
    tests = missing_workup_tests(facts, knowledge)
    if not tests:
        return None
    # Each order already says "no usable result": the gaps add only what was set aside or stale.
    gaps = lab_gaps(facts, WORKUP_ANALYTES, knowledge)
    causes = current_medication_causes(facts, DRUG_CAUSES)
    causes += [condition_cause(c) for c in facts.conditions_in("malabsorption")]
    notes = ["twitching-benign-causes"]
    if any(facts.meds(key) for key in TWITCHING_DRUGS):
        notes.append("twitching-drug-causes")
    if facts.conditions_in("red-flags"):
        notes.append("red-flags-present")
    return Finding(
        topic=Topic.TWITCHING_WORKUP,
        severity=Severity.INFO,
        title="Twitching: tests to complete the work-up",
        causes=unique(causes),
        gaps=tuple(gaps),
        tests=tuple(tests),
        notes=tuple(notes),
        sources=("twitching-deficiencies", "b12-pathway-2025"),
        symptoms=unique(condition_cause(c) for c in twitching),
    )


def twitching_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    return [f for rule in (_red_flags, _workup) if (f := rule(facts, knowledge)) is not None]
