"""Low calcium: which calcium decides, how low it is, and what settles or treats it.

Which calcium decides: the newest assessment (an ionized calcium; a reported corrected
calcium; a total calcium corrected with an albumin taken within the pairing window; a total
calcium no albumin can correct). An ionized calcium outranks a total or corrected one only
when they were taken within `calcium_ionized_preference_hours` of each other: in hospital
calcium is replaced within hours, so an older ionized result must not hide a newer one. When
the deciding calcium is low and another recent assessment is not (or the other way round), the
card shows both with their dates.

What the card offers follows what can settle it: albumin with (or without) a new calcium for a
total calcium that cannot be corrected, ionized calcium where correction is unreliable (albumin
below `albumin_correction_unreliable`, a paraprotein on record), magnesium when none is recent;
for severe or symptomatic hypocalcaemia the emergency work-up (ECG advice, ionized calcium,
phosphate, PTH, creatinine) and not vitamin D; vitamin D for persistent hypocalcaemia only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from cds.engine.building import (
    condition_cause,
    current_medication_causes,
    evidence,
    lab_gaps,
    ordered_unique,
    preliminary,
    recommend_test,
    unique,
)
from cds.engine.calcium_correction import corrected_calcium, paired_albumin, tests_to_read_calcium
from cds.engine.electrolyte_grading import (
    is_low,
    mild_severity,
    old_abnormal,
    recheck_finding,
    with_previous,
)
from cds.engine.facts import PatientFacts
from cds.engine.model import Evidence, Finding, Severity, TestRecommendation, Topic
from cds.engine.rules_magnesium import magnesium_test_needed
from cds.knowledge import Knowledge
from cds.reader import LabResult

CALCIUM_ANALYTES = ("calcium_ionized", "calcium_corrected", "calcium_total", "albumin")
SYMPTOMS = frozenset({"tetany", "seizure", "paraesthesia"})  # symptomatic hypocalcaemia
IONIZED, CORRECTED, DERIVED, UNCORRECTED = "ionized", "corrected", "derived", "uncorrected"


@dataclass(frozen=True)
class Assessment:
    """One way of reading the patient's calcium at one time."""

    kind: str
    result: LabResult  # the ionized, reported corrected, derived corrected or total result
    low_key: str
    severe_key: str
    albumin: LabResult | None = None  # the albumin that corrected it (derived)
    total: LabResult | None = None  # the total calcium it was derived from (derived)

    def low(self, knowledge: Knowledge) -> bool:
        return is_low(self.result, self.low_key, knowledge)

    def severe(self, knowledge: Knowledge) -> bool:
        return self.kind != UNCORRECTED and is_low(self.result, self.severe_key, knowledge)


def _total_assessment(facts: PatientFacts, total: LabResult, knowledge: Knowledge) -> Assessment:
    """A total calcium, corrected with the albumin taken within the pairing window of it."""
    albumin = paired_albumin(total, facts.labs.get("albumin", ()), knowledge)
    if albumin is None or albumin.comparator is not None:
        return Assessment(UNCORRECTED, total, "calcium_corrected_low", "calcium_corrected_severe_low")
    derived = corrected_calcium(total, albumin, knowledge)
    return Assessment(
        DERIVED, derived, "calcium_corrected_low", "calcium_corrected_severe_low", albumin, total
    )


def assessments(facts: PatientFacts, knowledge: Knowledge) -> tuple[Assessment | None, Assessment | None]:
    """(the assessment that decides, the other recent one) from the recent ionized calcium and
    the newest recent corrected or total calcium."""
    ionized = facts.recent("calcium_ionized")
    reported = facts.recent("calcium_corrected")
    total = facts.recent("calcium_total")
    other: Assessment | None = None
    if reported is not None and (total is None or reported.when.instant >= total.when.instant):
        other = Assessment(CORRECTED, reported, "calcium_corrected_low", "calcium_corrected_severe_low")
    elif total is not None:
        other = _total_assessment(facts, total, knowledge)
    if ionized is None:
        return other, None
    ion = Assessment(IONIZED, ionized, "calcium_ionized_low", "calcium_ionized_severe_low")
    if other is None:
        return ion, None
    close = timedelta(hours=knowledge.cutoffs["calcium_ionized_preference_hours"])
    if (
        abs(ionized.when.instant - other.result.when.instant) <= close
        or ionized.when.instant > other.result.when.instant
    ):
        return ion, other
    return other, ion


def _nearest_albumin(total: LabResult, facts: PatientFacts) -> LabResult | None:
    """The albumin of the last year nearest in time to a total calcium it could not correct."""
    albumins = [
        a for a in facts.labs.get("albumin", ()) if a.comparator is None and a.when.day >= facts.window_start
    ]
    return min(albumins, key=lambda a: abs(a.when.instant - total.when.instant)) if albumins else None


def _nearest_albumin_words(total: LabResult, albumin: LabResult, knowledge: Knowledge) -> tuple[str, bool]:
    """What the nearest albumin, too far from the total calcium to correct it, would make of
    it, in the laboratory's unit first, and whether that would be low."""
    days = abs((albumin.when.day - total.when.day).days)
    relation = "earlier" if albumin.when.instant < total.when.instant else "later"
    derived = corrected_calcium(total, albumin, knowledge)
    low = is_low(derived, "calcium_corrected_low", knowledge)
    corrected = f"{derived.value:.2f} mmol/L"
    if total.factor != 1.0:
        corrected = f"{derived.value / total.factor:.1f} {total.reported_unit} ({corrected})"
    words = (
        f"albumin {albumin.reported} {days} days {relation} (too far apart to correct it) would make it "
        f"about {corrected}, {'low' if low else 'normal'}"
    )
    return words, low


def _evidence(assessment: Assessment, facts: PatientFacts, knowledge: Knowledge, severe: bool) -> Evidence:
    key = assessment.severe_key if severe else assessment.low_key
    albumin, total = assessment.albumin, assessment.total
    note = None
    if assessment.kind == DERIVED and albumin is not None:
        note = f"corrected for albumin {albumin.reported} ({albumin.when.day})"
    elif assessment.kind == UNCORRECTED:
        nearest = _nearest_albumin(assessment.result, facts)
        words = _nearest_albumin_words(assessment.result, nearest, knowledge)[0] if nearest else None
        note = "not corrected for albumin" + (f"; {words}" if words else "")
    item = replace(
        evidence(assessment.result, knowledge, key, "<", note), grade="severely low" if severe else "low"
    )
    if assessment.kind == DERIVED and albumin is not None and total is not None:
        item = replace(item, reported=f"{total.reported}; albumin {albumin.reported}")
    if assessment.kind in (IONIZED, CORRECTED):
        item = with_previous(item, assessment.result, facts)
    return item


def _other_evidence(
    deciding: Assessment, other: Assessment, facts: PatientFacts, knowledge: Knowledge
) -> Evidence:
    """The other recent assessment, which disagrees with the deciding one: shown with its date."""
    verdict = "low" if other.low(knowledge) else "not low"
    why = (
        "ionized calcium taken with it is preferred"
        if deciding.kind == IONIZED and deciding.result.when.instant <= other.result.when.instant
        else "the newer result decides"
    )
    if other.kind == DERIVED and not other.low(knowledge) and _unreliable(other, facts, knowledge):
        verdict = "not low only by an unreliable albumin correction"
    note = f"{other.kind} calcium {facts.ago(other.result.when.instant)}: {verdict}; {why}"
    item = evidence(other.result, knowledge, other.low_key, "<", note)
    if other.kind == DERIVED and other.albumin is not None and other.total is not None:
        item = replace(item, reported=f"{other.total.reported}; albumin {other.albumin.reported}")
    return item


def _unreliable(deciding: Assessment, facts: PatientFacts, knowledge: Knowledge) -> bool:
    """Albumin correction cannot be trusted: a low albumin, or a paraprotein on record."""
    if deciding.kind == IONIZED:
        return False
    paraprotein = any(c.member == "myeloma" for c in facts.conditions_in("calcium-causes"))
    albumin = deciding.albumin or facts.recent("albumin")
    return paraprotein or (
        albumin is not None and is_low(albumin, "albumin_correction_unreliable", knowledge)
    )


def _persistent(deciding: Assessment, facts: PatientFacts, knowledge: Knowledge) -> bool:
    """Another low calcium at least `calcium_persistent_days` before this one, within the year."""
    days = timedelta(days=knowledge.cutoffs["calcium_persistent_days"])
    for analyte, key in (
        ("calcium_ionized", "calcium_ionized_low"),
        ("calcium_corrected", "calcium_corrected_low"),
    ):
        for result in facts.labs.get(analyte, ()):
            earlier = result.when.instant <= deciding.result.when.instant - days
            if earlier and result.when.day >= facts.window_start and is_low(result, key, knowledge):
                return True
    return False


def _tests(
    deciding: Assessment, severe: bool, facts: PatientFacts, knowledge: Knowledge
) -> tuple[TestRecommendation, ...]:
    tests: list[TestRecommendation] = []
    causes = {c.member for c in facts.conditions_in("calcium-causes")}
    if deciding.kind == UNCORRECTED:
        tests += tests_to_read_calcium(facts, knowledge)
    if deciding.kind != IONIZED and (severe or _unreliable(deciding, facts, knowledge)):
        why = (
            "the calcium that counts when albumin correction is unreliable"
            if not severe
            else ("confirms the level before and during treatment")
        )
        tests.append(recommend_test(knowledge, "calcium_ionized", why))
    if magnesium_test_needed(facts):
        tests.append(
            recommend_test(
                knowledge, "magnesium", "low magnesium keeps calcium low and must be corrected first"
            )
        )
    if severe:
        tests.append(recommend_test(knowledge, "phosphate", "part of the work-up of severe hypocalcaemia"))
        tests.append(recommend_test(knowledge, "pth", "tells parathyroid causes from others"))
        tests.append(
            recommend_test(knowledge, "creatinine", "kidney function guides treatment and the cause")
        )
    elif {"neck-surgery-parathyroid", "thyroid-cancer"} & causes:
        tests.append(
            recommend_test(knowledge, "pth", "thyroid or parathyroid surgery or disease is on record")
        )
    if not severe and deciding.kind != UNCORRECTED and _persistent(deciding, facts, knowledge):
        tests.append(
            recommend_test(
                knowledge,
                "vitamin_d",
                "calcium has been low for weeks: vitamin D deficiency is a common cause",
            )
        )
    return tuple(tests)


def _hypocalcemia(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    deciding, other = assessments(facts, knowledge)
    if deciding is None:
        return _recheck(facts, knowledge)
    if not deciding.low(knowledge):
        return _cleared_by_unreliable_correction(deciding, facts, knowledge)
    symptoms = tuple(c for c in facts.conditions_in("electrolyte-symptoms") if c.member in SYMPTOMS)
    severe = deciding.severe(knowledge) or (bool(symptoms) and deciding.kind != UNCORRECTED)
    mild = deciding.kind == IONIZED and not is_low(deciding.result, "calcium_ionized_mild_low", knowledge)
    if severe:
        severity: Severity | None = Severity.CRITICAL
    elif mild:
        severity = mild_severity(deciding.result, facts, knowledge, "calcium_ionized_trend_delta", low=True)
    else:
        severity = Severity.WARNING
    nearest = _nearest_albumin(deciding.result, facts) if deciding.kind == UNCORRECTED else None
    if nearest is not None and not _nearest_albumin_words(deciding.result, nearest, knowledge)[1]:
        # The nearest albumin, though too far away to correct it, makes it normal: low albumin
        # is the likely explanation, so the card asks for what settles it but does not warn.
        severity = Severity.INFO
    if severity is None:
        return None
    item = _evidence(deciding, facts, knowledge, deciding.severe(knowledge))
    if mild:
        item = replace(item, grade="slightly low")
    items = [item]
    if other is not None and not other.low(knowledge):
        items.append(_other_evidence(deciding, other, facts, knowledge))
    causes_on_record = facts.conditions_in("calcium-causes")
    bariatric = [
        c
        for c in facts.conditions_in("malabsorption")
        if c.member in ("gastrectomy", "postsurgical-malabsorption")
    ]
    # Neck surgery is a cause; thyroid cancer is why the neck was operated on: on record.
    causes = [condition_cause(c) for c in causes_on_record if c.member == "neck-surgery-parathyroid"]
    causes += [condition_cause(c) for c in bariatric]
    on_record = [
        condition_cause(c)
        for c in causes_on_record
        if c.member in ("myeloma", "kidney-injury", "thyroid-cancer")
    ]
    on_record += current_medication_causes(facts, ("vitamin-d",))
    notes = []
    if severity is Severity.WARNING:  # what to look for; a critical card says what to do instead
        notes.append("chvostek-sign")
    if {c.member for c in causes_on_record} & {"neck-surgery-parathyroid", "thyroid-cancer"}:
        notes.append("calcium-pth")
    if any(c.member == "myeloma" for c in causes_on_record):
        notes.append("calcium-paraprotein")
    if bariatric:
        notes.append("calcium-bariatric")
    if deciding.kind == DERIVED:
        notes.append("calcium-correction-caveat")
    if preliminary(items):
        notes.append("preliminary-result")
    # What to do now; the tests that settle the card carry their own reasons and are not
    # repeated as advice.
    if severe:
        advice = ["calcium-severe-act"]
    elif deciding.kind == UNCORRECTED:
        advice = ["calcium-uncorrected"]
    elif mild:
        advice = ["calcium-mild-recheck"]
    else:
        advice = ["calcium-replace"]
    if deciding.kind == UNCORRECTED:
        title = "Low total calcium (not corrected for albumin)"
    else:
        title = (
            "Severely low calcium" if severe else ("Slightly low ionized calcium" if mild else "Low calcium")
        )
    return Finding(
        topic=Topic.HYPOCALCEMIA,
        severity=severity,
        title=title,
        primary=items[0],
        evidence=tuple(items),
        causes=unique(causes),
        symptoms=unique(condition_cause(c) for c in symptoms),
        on_record=unique(on_record),
        # The nearest albumin is named in the evidence: not again as a stale result.
        gaps=tuple(
            g for g in lab_gaps(facts, CALCIUM_ANALYTES, knowledge) if not (nearest and g.item == "Albumin")
        ),
        tests=_tests(deciding, severe, facts, knowledge),
        notes=tuple(notes),
        advice=tuple(advice),
        sources=ordered_unique((item.source, "sfe-hypocalcaemia", "payne-1973", "twitching-deficiencies")),
    )


def _cleared_by_unreliable_correction(
    deciding: Assessment, facts: PatientFacts, knowledge: Knowledge
) -> Finding | None:
    """A low total calcium that only albumin correction makes normal, where the correction
    cannot be trusted (albumin below `albumin_correction_unreliable`, a paraprotein): an info
    card that asks for the ionized calcium that settles it, rather than silence."""
    total = deciding.total
    if deciding.kind != DERIVED or total is None or not _unreliable(deciding, facts, knowledge):
        return None
    if not is_low(total, "calcium_corrected_low", knowledge):
        return None
    item = replace(
        evidence(total, knowledge, "calcium_corrected_low", "<", _unreliable_words(deciding, knowledge)),
        grade="low",
    )
    return Finding(
        topic=Topic.HYPOCALCEMIA,
        severity=Severity.INFO,
        title="Low total calcium (albumin correction unreliable)",
        primary=item,
        evidence=(item,),
        tests=(recommend_test(knowledge, "calcium_ionized", "settles whether calcium is truly low"),),
        advice=("calcium-correction-unreliable",),
        sources=ordered_unique((item.source, "payne-1973", "sfe-hypocalcaemia")),
    )


def _unreliable_words(assessment: Assessment, knowledge: Knowledge) -> str:
    derived = assessment.result
    albumin = assessment.albumin
    corrected = f"{derived.value:.2f} mmol/L"
    if albumin is not None and is_low(albumin, "albumin_correction_unreliable", knowledge):
        return (
            f"corrected for albumin {albumin.reported} it reads {corrected}, but correction is unreliable "
            "at that albumin"
        )
    return f"corrected for albumin it reads {corrected}, but correction is unreliable with a paraprotein"


def _recheck(facts: PatientFacts, knowledge: Knowledge) -> Finding | None:
    """No recent calcium: an abnormal one from the last year is rechecked, with albumin."""
    for analyte, key in (
        ("calcium_ionized", "calcium_ionized_low"),
        ("calcium_corrected", "calcium_corrected_low"),
    ):
        old = old_abnormal(facts, analyte)
        if old is not None and is_low(old, key, knowledge):
            test = "calcium_ionized" if analyte == "calcium_ionized" else "calcium"
            severe = (
                "calcium_ionized_severe_low"
                if analyte == "calcium_ionized"
                else "calcium_corrected_severe_low",
                "<",
            )
            return recheck_finding(
                Topic.HYPOCALCEMIA, "Low calcium", old, test, key, "<", facts, knowledge, severe=severe
            )
    old = old_abnormal(facts, "calcium_total")
    if old is not None and is_low(old, "calcium_corrected_low", knowledge):
        found = recheck_finding(
            Topic.HYPOCALCEMIA,
            "Low total calcium",
            old,
            "calcium",
            "calcium_corrected_low",
            "<",
            facts,
            knowledge,
        )
        why = "needed to correct the new calcium for albumin"
        return replace(found, tests=(*found.tests, recommend_test(knowledge, "albumin", why)))
    return None


def calcium_findings(facts: PatientFacts, knowledge: Knowledge) -> Sequence[Finding]:
    found = _hypocalcemia(facts, knowledge)
    return [found] if found is not None else []
