"""Albumin-corrected calcium (Payne): which albumin corrects a total calcium, the formula, and
what a chart needs before its calcium can be read.

The hypocalcaemia rule and the companion app's calcium series both call these, so a chart
and a card can never correct the same result two ways.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from cds.engine.building import recommend_test
from cds.engine.facts import PatientFacts
from cds.engine.model import TestRecommendation
from cds.knowledge import Knowledge
from cds.reader import LabResult

# Payne 1973: calcium rises 0.02 mmol/L for each g/L of albumin below the reference.
PAYNE_SLOPE = 0.02


def payne_corrected(total_mmol_l: float, albumin_g_l: float, reference_albumin_g_l: float) -> float:
    """Total calcium (mmol/L) corrected for albumin (g/L) against the reference albumin."""
    return total_mmol_l + PAYNE_SLOPE * (reference_albumin_g_l - albumin_g_l)


def corrected_calcium(total: LabResult, albumin: LabResult, knowledge: Knowledge) -> LabResult:
    """The albumin-corrected calcium a total calcium and its paired albumin make, as a result
    of its own: taken when the total was, "A + B" its reference, preliminary when either is."""
    value = payne_corrected(total.value, albumin.value, knowledge.cutoffs["albumin_reference"])
    unit = knowledge.labs["calcium_corrected"].unit
    return LabResult(
        analyte="calcium_corrected",
        loinc="",
        reference=f"{total.reference} + {albumin.reference}",
        status="preliminary" if "preliminary" in (total.status, albumin.status) else total.status,
        when=total.when,
        value=value,
        unit=unit,
        reported_value=value,
        reported_unit=unit,
        comparator=total.comparator,
    )


def paired_albumin(total: LabResult, albumins: Iterable[LabResult], knowledge: Knowledge) -> LabResult | None:
    """The first albumin (in the order given: newest first) taken within the knowledge's
    `albumin_pairing_days` of the total calcium; None when there is none."""
    pairing = timedelta(days=knowledge.cutoffs["albumin_pairing_days"])
    return next((a for a in albumins if abs(a.when.day - total.when.day) <= pairing), None)


def tests_to_read_calcium(
    facts: PatientFacts, knowledge: Knowledge, within_year: bool = False
) -> list[TestRecommendation]:
    """What the chart needs before its calcium can be read, decided once for every card that
    asks (a low-calcium card, the twitching work-up): nothing when a recent ionized or
    corrected calcium, or a total calcium with an albumin close enough to correct it, is on
    file; albumin for a recent total calcium taken within the pairing window of now; calcium
    and albumin together otherwise, as an albumin alone can never correct an older calcium.
    `within_year`: a calcium of the last 12 months counts as on file (the twitching work-up),
    not only one within the calcium's own window for acting on it."""
    find = facts.on_file if within_year else facts.recent
    if find("calcium_ionized") is not None or find("calcium_corrected") is not None:
        return []
    total = find("calcium_total")
    pairing = knowledge.cutoffs["albumin_pairing_days"]
    if total is None:
        recent = f"{facts.recent_months} months" if within_year else facts.window_words("calcium_total")
        tests = [recommend_test(knowledge, "calcium", f"no usable result in the last {recent}")]
        if facts.recent("albumin") is None:
            tests.append(recommend_test(knowledge, "albumin", "needed to correct calcium for albumin"))
        return tests
    if paired_albumin(total, facts.labs.get("albumin", ()), knowledge) is not None:
        return []
    if (facts.now.date() - total.when.day).days > pairing:
        why = f"an albumin alone cannot correct a total calcium taken more than {pairing:g} days ago"
        again = replace(recommend_test(knowledge, "calcium", why), repeat=True)
        # A recent albumin corrects the new calcium too; only an older one is measured again.
        return (
            [again]
            if facts.recent("albumin") is not None
            else [again, recommend_test(knowledge, "albumin", why)]
        )
    return [recommend_test(knowledge, "albumin", "corrects the total calcium for albumin")]
