"""Magnesium, calcium, potassium and sodium rules."""

from __future__ import annotations

from dataclasses import replace

from cds.engine.building import (
    condition_cause,
    current_medication_causes,
    evidence,
    lab_gaps,
    missing_gaps,
    ordered_unique,
    preliminary,
    recommend_test,
    unique,
)
from cds.engine.calcium_correction import paired_albumin, payne_corrected
from cds.engine.compare import above, below
from cds.engine.facts import PatientFacts
from cds.engine.model import Cause, DataGap, Evidence, Finding, Severity, Topic
from cds.knowledge import Knowledge
from cds.reader import LabResult
from cds.reader.dates import months_before

DIURETICS = ("loop-diuretic", "thiazide-diuretic")
CALCIUM_ANALYTES = ("calcium_ionized", "calcium_corrected", "calcium_total", "albumin")


def _is_low(result: LabResult, knowledge: Knowledge, key: str) -> bool:
    return below(result, key, knowledge) is True


def _hypomagnesemia(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    result = facts.recent("magnesium")
    if result is None or not _is_low(result, knowledge, "magnesium_low"):
        return None
    severe = _is_low(result, knowledge, "magnesium_severe_low")
    key = "magnesium_severe_low" if severe else "magnesium_low"
    item = evidence(result, knowledge, key, "<")
    causes = current_medication_causes(facts, ("ppi", *DIURETICS))
    causes += [
        condition_cause(c)
        for c in facts.conditions_in("other-b12-risks")
        if c.member == "alcohol-use-disorder"
    ]
    notes = ["hypomagnesemia-calcium"]
    if facts.meds("ppi"):
        notes.append("ppi-magnesium")
    if facts.meds("digoxin"):
        notes.append("magnesium-digoxin")
    if preliminary((item,)):
        notes.append("preliminary-result")
    tests = []
    if facts.recent("potassium") is None:
        tests.append(recommend_test(knowledge, "potassium", "low magnesium often comes with low potassium"))
    if not any(facts.recent(a) for a in ("calcium_ionized", "calcium_corrected", "calcium_total")):
        tests.append(recommend_test(knowledge, "calcium", "low magnesium can lower calcium"))
        if facts.recent("albumin") is None:  # a total calcium cannot be read without it
            tests.append(recommend_test(knowledge, "albumin", "needed to correct calcium for albumin"))
    return Finding(
        topic=Topic.HYPOMAGNESEMIA,
        severity=Severity.CRITICAL if severe else Severity.WARNING,
        title="Severely low magnesium" if severe else "Low magnesium",
        primary=item,
        evidence=(item,),
        causes=unique(causes),
        gaps=tuple(lab_gaps(facts, ("magnesium",), knowledge)),
        tests=tuple(tests),
        notes=tuple(notes),
        sources=ordered_unique((item.source, "twitching-deficiencies", "fda-ppi-magnesium-2011")),
    )


def _magnesium_testing(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    ppis = facts.meds("ppi")
    if not ppis or not facts.results_known("magnesium") or facts.recent("magnesium") is not None:
        return None
    long_term_start = months_before(facts.now, int(knowledge.cutoffs["ppi_long_term_months"]))
    long_term = [m for m in ppis if m.start is not None and m.start.day <= long_term_start]
    partners = current_medication_causes(facts, (*DIURETICS, "digoxin"))
    if not long_term and not partners:
        return None
    gaps = missing_gaps(facts, knowledge, "Magnesium", ("magnesium",))
    gaps += [DataGap(m.reference, "PPI start date not recorded") for m in ppis if m.start is None]
    notes = ["ppi-magnesium"] + (["magnesium-digoxin"] if facts.meds("digoxin") else [])
    return Finding(
        topic=Topic.MAGNESIUM_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="Magnesium test recommended",
        causes=unique((*current_medication_causes(facts, ("ppi",)), *partners)),
        gaps=tuple(gaps),
        tests=(recommend_test(knowledge, "magnesium", "long-term PPI, or PPI with a diuretic or digoxin"),),
        notes=tuple(notes),
        sources=("fda-ppi-magnesium-2011",),
    )


def _corrected_calcium(
    facts: PatientFacts, knowledge: Knowledge
) -> tuple[Evidence | None, LabResult | None, list[DataGap], bool]:
    """The calcium to judge (ionized first), the result behind it, gaps, and whether derived."""
    gaps: list[DataGap] = []
    ionized = facts.recent("calcium_ionized")
    reported = facts.recent("calcium_corrected")
    total = facts.recent("calcium_total")
    if ionized is not None:
        key = (
            "calcium_ionized_severe_low"
            if _is_low(ionized, knowledge, "calcium_ionized_severe_low")
            else ("calcium_ionized_low")
        )
        note = (
            "ionized calcium used in preference to albumin-corrected calcium" if (reported or total) else None
        )
        return evidence(ionized, knowledge, key, "<", note), ionized, gaps, False
    if reported is not None and (total is None or reported.when.instant >= total.when.instant):
        return _graded(reported, knowledge, None), reported, gaps, False
    if total is None:
        return None, None, gaps, False
    albumin = paired_albumin(total, facts.recent_results("albumin"), knowledge)
    if albumin is None:
        gaps.append(
            DataGap(
                "Calcium",
                "cannot correct total calcium: no albumin result within "
                f"{knowledge.cutoffs['albumin_pairing_days']:g} days of it",
            )
        )
        return None, None, gaps, False
    if albumin.comparator is not None:
        gaps.append(
            DataGap("Calcium", f"cannot correct total calcium: albumin reported as {albumin.reported}")
        )
        return None, None, gaps, False
    reference_albumin = knowledge.cutoffs["albumin_reference"]
    value = payne_corrected(total.value, albumin.value, reference_albumin)
    note = (
        f"corrected for albumin {albumin.value:g} g/L ({albumin.when.day}): {total.value:.2f} + 0.02 x "
        f"({reference_albumin:g} - {albumin.value:g}) = {value:.2f} mmol/L"
    )
    derived = LabResult(
        analyte="calcium_corrected",
        loinc="",
        reference=f"{total.reference} + {albumin.reference}",
        status="preliminary" if "preliminary" in (total.status, albumin.status) else total.status,
        when=total.when,
        value=value,
        unit="mmol/L",
        reported_value=value,
        reported_unit="mmol/L",
        comparator=total.comparator,
    )
    inputs = f"{total.reported}; albumin {albumin.reported}"
    return _graded(derived, knowledge, note, inputs), derived, gaps, True


def _graded(result: LabResult, knowledge: Knowledge, note: str | None, inputs: str | None = None) -> Evidence:
    severe = _is_low(result, knowledge, "calcium_corrected_severe_low")
    key = "calcium_corrected_severe_low" if severe else "calcium_corrected_low"
    found = evidence(result, knowledge, key, "<", note)
    return replace(found, reported=inputs) if inputs is not None else found


def _uncorrected_low_calcium(
    facts: PatientFacts, knowledge: Knowledge, gaps: list[DataGap]
) -> Finding | None:
    """A low total calcium that cannot be corrected is still worth a card: it asks for the
    albumin or ionized calcium that settles it, and never claims a severity it cannot know."""
    total = facts.recent("calcium_total")
    if total is None or not _is_low(total, knowledge, "calcium_corrected_low"):
        return None
    item = evidence(total, knowledge, "calcium_corrected_low", "<", "not corrected for albumin")
    notes = ["calcium-uncorrected", "chvostek-sign"]
    if preliminary((item,)):
        notes.append("preliminary-result")
    tests = [
        recommend_test(knowledge, "albumin", "needed to correct the total calcium"),
        recommend_test(knowledge, "calcium_ionized", "settles whether calcium is truly low"),
    ]
    return Finding(
        topic=Topic.HYPOCALCEMIA,
        severity=Severity.WARNING,
        title="Low total calcium (albumin unknown)",
        primary=item,
        evidence=(item,),
        gaps=tuple(gaps + lab_gaps(facts, CALCIUM_ANALYTES, knowledge)),
        tests=tuple(tests),
        notes=tuple(notes),
        sources=ordered_unique((item.source, "sfe-hypocalcaemia", "payne-1973")),
    )


def _hypocalcemia(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    item, result, gaps, derived = _corrected_calcium(facts, knowledge)
    if item is None or result is None:
        return _uncorrected_low_calcium(facts, knowledge, gaps)
    ionized = result.analyte == "calcium_ionized"
    low_key = "calcium_ionized_low" if ionized else "calcium_corrected_low"
    severe_key = "calcium_ionized_severe_low" if ionized else "calcium_corrected_severe_low"
    if not _is_low(result, knowledge, low_key):
        return None
    severe = _is_low(result, knowledge, severe_key)
    notes = ["chvostek-sign", "calcium-check-mg-vitd"]
    if derived:
        notes.append("calcium-correction-caveat")
    if preliminary((item,)):
        notes.append("preliminary-result")
    tests = []
    magnesium = facts.recent("magnesium")
    if magnesium is None:
        tests.append(recommend_test(knowledge, "magnesium", "low magnesium can keep calcium low"))
    tests.append(recommend_test(knowledge, "vitamin_d", "vitamin D deficiency lowers calcium"))
    # Advice that fits the result: no "confirm with ionized calcium" on an ionized result, no
    # "check magnesium" when a recent magnesium is normal.
    magnesium_open = magnesium is None or _is_low(magnesium, knowledge, "magnesium_low")
    advice = [
        *([] if ionized else ["calcium-confirm-ionized"]),
        *(["calcium-check-magnesium"] if magnesium_open else []),
        "calcium-urgent-if-severe",
    ]
    return Finding(
        topic=Topic.HYPOCALCEMIA,
        severity=Severity.CRITICAL if severe else Severity.WARNING,
        title="Severely low calcium" if severe else "Low calcium",
        primary=item,
        evidence=(item,),
        gaps=tuple(lab_gaps(facts, CALCIUM_ANALYTES, knowledge)),
        tests=tuple(tests),
        notes=tuple(notes),
        sources=ordered_unique((item.source, "sfe-hypocalcaemia", "twitching-deficiencies")),
        advice=tuple(advice),
    )


_URGENT = {
    ("potassium", "high"): "potassium-high-urgent",
    ("potassium", "low"): "potassium-low-urgent",
    ("sodium", "high"): "sodium-severe-slowly",
    ("sodium", "low"): "sodium-severe-slowly",
}


def _out_of_range(result: LabResult, knowledge: Knowledge) -> tuple[str, bool, Evidence] | None:
    """('low' or 'high', severe?, evidence) for a potassium or sodium outside its range."""
    analyte = result.analyte
    if _is_low(result, knowledge, f"{analyte}_low"):
        severe = _is_low(result, knowledge, f"{analyte}_severe_low")
        key = f"{analyte}_{'severe_low' if severe else 'low'}"
        return "low", severe, evidence(result, knowledge, key, "<")
    if above(result, f"{analyte}_high", knowledge) is not True:
        return None
    severe_key = f"{analyte}_severe_high"
    severe_info = knowledge.cutoff_info[severe_key]
    if severe_info.rule == "at_least":  # ">= 6.5": not below the cut-off
        severe = below(result, severe_key, knowledge) is False
        op = ">="
    else:
        severe = above(result, severe_key, knowledge) is True
        op = ">"
    item = evidence(result, knowledge, severe_key, op) if severe else evidence(
        result, knowledge, f"{analyte}_high", ">"
    )
    return "high", severe, item


def _electrolytes(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    found: list[tuple[bool, str, Evidence]] = []
    for analyte in ("potassium", "sodium"):
        result = facts.recent(analyte)
        judged = _out_of_range(result, knowledge) if result is not None else None
        if judged is not None:
            direction, severe, item = judged
            found.append((severe, direction, item))
    if not found:
        return None
    found.sort(key=lambda entry: not entry[0])  # the most severe abnormality leads (stable otherwise)
    items = tuple(e for _severe, _direction, e in found)
    severe = found[0][0]
    title = " and ".join(f"{'severely ' if s else ''}{d} {e.display.lower()}" for s, d, e in found)
    low = {e.analyte for _s, d, e in found if d == "low"}
    causes = current_medication_causes(facts, DIURETICS) if low else []
    if "potassium" in low:
        causes += current_medication_causes(facts, ("systemic-corticosteroid",))
    notes = ["electrolytes-twitching"]
    on_record: list[Cause] = []
    if "potassium" in low and facts.meds("digoxin"):
        # not a cause of the low potassium, but what makes it dangerous
        notes.insert(0, "potassium-digoxin")
        on_record = current_medication_causes(facts, ("digoxin",))
    if any(e.analyte == "potassium" and d == "high" and not s for s, d, e in found):
        notes.append("potassium-haemolysis")
    if preliminary(items):
        notes.append("preliminary-result")
    # A critical result gets urgent advice in place of the routine "repeat if unexpected".
    urgent = [_URGENT[(e.analyte, d)] for s, d, e in found if s]
    advice = (*ordered_unique(urgent), "electrolytes-review-causes") if urgent else ()
    return Finding(
        topic=Topic.ELECTROLYTE_IMBALANCE,
        severity=Severity.CRITICAL if severe else Severity.WARNING,
        title=title[0].upper() + title[1:],
        primary=items[0],
        evidence=items,
        causes=unique(causes),
        gaps=tuple(lab_gaps(facts, ("potassium", "sodium"), knowledge)),
        notes=tuple(notes),
        sources=ordered_unique((*(e.source for e in items), "twitching-deficiencies")),
        advice=advice,
        on_record=unique(on_record),
    )


def electrolyte_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    rules = (_hypomagnesemia, _magnesium_testing, _hypocalcemia, _electrolytes)
    return [f for rule in rules if (f := rule(facts, knowledge)) is not None]
