"""Magnesium: a low magnesium (what to do, and first), its recheck when old, and the test a
long-term PPI calls for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cds.engine.building import (
    DIURETICS,
    condition_cause,
    current_medication_causes,
    evidence,
    lab_gaps,
    medication_cause,
    missing_gaps,
    ordered_unique,
    preliminary,
    recommend_test,
    uncertain_medication_causes,
    unique,
)
from cds.engine.calcium_correction import tests_to_read_calcium
from cds.engine.compare import ON, cutoff_words, side
from cds.engine.electrolyte_grading import is_low, old_abnormal, recheck_finding, with_previous
from cds.engine.facts import PatientFacts
from cds.engine.model import Cause, DataGap, Finding, Severity, Topic
from cds.knowledge import Knowledge
from cds.reader import LabResult, MedicationState, MedicationUse
from cds.reader.dates import months_before

LOW = "Low magnesium"


def low_magnesium(facts: PatientFacts, knowledge: Knowledge) -> LabResult | None:
    """The recent magnesium when it is low."""
    result = facts.recent("magnesium")
    return result if result is not None and is_low(result, "magnesium_low", knowledge) else None


def magnesium_test_needed(facts: PatientFacts) -> bool:
    """No recent magnesium: a calcium or potassium card offers the test (one decision, the
    same on every path: a low one is shown on its own card, a normal one asks nothing)."""
    return facts.recent("magnesium") is None


def magnesium_monitoring_due(facts: PatientFacts) -> bool:
    """Periodic monitoring on a PPI: due when the lab list can say no magnesium of the last 12
    months is on file (a low one is judged by the magnesium card, or rechecked when too old to
    act on). The chart's and the order's testing cards both ask this."""
    return facts.results_known("magnesium") and facts.on_file("magnesium") is None


def long_term_ppis(
    ppis: Sequence[MedicationUse], facts: PatientFacts, knowledge: Knowledge
) -> list[MedicationUse]:
    """The PPIs started at least `ppi_long_term_months` ago (an unknown start is not counted)."""
    since = months_before(facts.now, int(knowledge.cutoffs["ppi_long_term_months"]))
    return [m for m in ppis if m.start is not None and m.start.day <= since]


def _causes(facts: PatientFacts, knowledge: Knowledge) -> tuple[list[Cause], bool]:
    """Likely causes of a low magnesium on record, and whether a PPI is among them: a PPI taken
    for months (a PPI of weeks is not the cause), diuretics, alcohol."""
    since = months_before(facts.now, int(knowledge.cutoffs["ppi_magnesium_cause_months"]))
    ppis = [m for m in facts.meds("ppi") if m.start is None or m.start.day <= since]
    causes = [medication_cause(m, facts) for m in ppis]
    causes += current_medication_causes(facts, DIURETICS)
    causes += [
        condition_cause(c)
        for c in facts.conditions_in("other-b12-risks")
        if c.member == "alcohol-use-disorder"
    ]
    return causes, bool(ppis)


def _hypomagnesemia(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    result = facts.recent("magnesium")
    if result is None:
        old = old_abnormal(facts, "magnesium")
        if old is not None and is_low(old, "magnesium_low", knowledge):
            found = recheck_finding(
                Topic.HYPOMAGNESEMIA, LOW, old, "magnesium", "magnesium_low", "<", facts, knowledge,
                severe=("magnesium_severe_low", "<"),
            )  # fmt: skip
            causes, ppi = _causes(facts, knowledge)  # what to review at the recheck, a PPI above all
            return replace(found, causes=unique(causes), notes=("ppi-magnesium",) if ppi else ())
        return None
    if not is_low(result, "magnesium_low", knowledge):
        return None
    severe = is_low(result, "magnesium_severe_low", knowledge)
    key = "magnesium_severe_low" if severe else "magnesium_low"
    note = None
    if not severe and side(result, "magnesium_severe_low", knowledge) == ON:
        # The guideline states the boundary in both units; a value on it is judged not below it.
        in_unit = cutoff_words(result, "magnesium_severe_low", "<", knowledge)[2:]
        stated = f"{knowledge.cutoff_figure('magnesium_severe_low')} {knowledge.labs['magnesium'].unit}"
        note = f"on the severe cut-off ({in_unit} = {stated}), not below it: low, not severely low"
    item = replace(evidence(result, knowledge, key, "<", note), grade="severely low" if severe else "low")
    item = with_previous(item, result, facts)
    causes, ppi = _causes(facts, knowledge)
    kidney = [c for c in facts.conditions_in("calcium-causes") if c.member == "kidney-injury"]
    notes = ["hypomagnesemia-calcium"]
    if kidney:
        notes.insert(0, "magnesium-kidney-caution")
    if ppi:
        notes.append("ppi-magnesium")
    if facts.meds("digoxin"):
        notes.append("magnesium-digoxin")
    if preliminary((item,)):
        notes.append("preliminary-result")
    tests = []
    if facts.recent("potassium") is None:
        tests.append(recommend_test(knowledge, "potassium", "low magnesium often comes with low potassium"))
    for test in tests_to_read_calcium(facts, knowledge):
        reason = "low magnesium can lower calcium" if test.key == "calcium" else test.reason
        tests.append(replace(test, reason=reason))
    return Finding(
        topic=Topic.HYPOMAGNESEMIA,
        severity=Severity.CRITICAL if severe else Severity.WARNING,
        title="Severely low magnesium" if severe else LOW,
        primary=item,
        evidence=(item,),
        causes=unique(causes),
        on_record=unique(condition_cause(c) for c in kidney),
        gaps=tuple(lab_gaps(facts, ("magnesium",), knowledge)),
        tests=tuple(tests),
        notes=tuple(notes),
        advice=("magnesium-severe-replace",) if severe else ("magnesium-replace",),
        sources=ordered_unique((item.source, "twitching-deficiencies", "fda-ppi-magnesium-2011")),
        fitting_notes=("magnesium-kidney-caution",) if kidney else (),
    )


def _magnesium_testing(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    """Long-term PPI, or a PPI with a diuretic or digoxin, and no recent magnesium. A PPI on a
    list of uncertain status still asks for the test (low harm), saying what to confirm."""
    ppis = facts.meds("ppi") + facts.meds("ppi", MedicationState.UNCERTAIN)
    if not ppis or not magnesium_monitoring_due(facts):
        return None
    long_term = long_term_ppis(ppis, facts, knowledge)
    partners = current_medication_causes(facts, (*DIURETICS, "digoxin"))
    if not long_term and not partners:
        return None
    gaps = missing_gaps(facts, knowledge, "Magnesium", ("magnesium",))
    gaps += [DataGap(m.reference, "PPI start date not recorded") for m in ppis if m.start is None]
    notes = ["ppi-magnesium"] + (["magnesium-digoxin"] if facts.meds("digoxin") else [])
    uncertain = uncertain_medication_causes(facts, ("ppi",))
    if uncertain and not facts.meds("ppi"):
        notes.insert(0, "confirm-medication")
    return Finding(
        topic=Topic.MAGNESIUM_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="Magnesium test recommended",
        causes=unique((*current_medication_causes(facts, ("ppi",)), *uncertain, *partners)),
        gaps=tuple(gaps),
        tests=(recommend_test(knowledge, "magnesium", "long-term PPI, or PPI with a diuretic or digoxin"),),
        notes=tuple(notes),
        sources=("fda-ppi-magnesium-2011",),
    )


def magnesium_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    return [f for rule in (_hypomagnesemia, _magnesium_testing) if (f := rule(facts, knowledge)) is not None]
