"""Albumin-corrected calcium (Payne): which albumin corrects a total calcium, and the formula.

The hypocalcaemia rule and the companion app's calcium series both call these, so a chart
and a card can never correct the same result two ways.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from cds.knowledge import Knowledge
from cds.reader import LabResult

# Payne 1973: calcium rises 0.02 mmol/L for each g/L of albumin below the reference.
PAYNE_SLOPE = 0.02


def payne_corrected(total_mmol_l: float, albumin_g_l: float, reference_albumin_g_l: float) -> float:
    """Total calcium (mmol/L) corrected for albumin (g/L) against the reference albumin."""
    return total_mmol_l + PAYNE_SLOPE * (reference_albumin_g_l - albumin_g_l)


def paired_albumin(total: LabResult, albumins: Iterable[LabResult], knowledge: Knowledge) -> LabResult | None:
    """The first albumin (in the order given: newest first) taken within the knowledge's
    `albumin_pairing_days` of the total calcium; None when there is none."""
    pairing = timedelta(days=knowledge.cutoffs["albumin_pairing_days"])
    return next((a for a in albumins if abs(a.when.day - total.when.day) <= pairing), None)
