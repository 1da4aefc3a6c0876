"""The one comparison of a result with a cut-off: every rule and check goes through it.

A result is judged as the laboratory reported it: the cut-off is converted into the reported
unit and rounded to the precision at which the guideline states it (0.70 mmol/L is 1.7 mg/dL,
2.12 mmol/L is 8.50 mg/dL, 0.50 mmol/L is 1.2 mg/dL, 180 ng/L is 133 pmol/L), then compared
with the reported number. So 1.7 mg/dL magnesium sits on the 0.70 mmol/L cut-off rather than
below it, while a total calcium written "8" (2.00 mmol/L) is below 8.50, however many
trailing zeros the database dropped. A value the engine derived (corrected calcium) is judged
in the canonical unit against the cut-off as stated.

A comparator makes the result a bound: `<150` lies below 150, so it is certainly below 180,
but `<200` may or may not be. Such a comparison answers None (the bound leaves it open).
"""

from __future__ import annotations

import math

from cds.knowledge import Knowledge
from cds.reader import LabResult

BELOW, ON, ABOVE = -1, 0, 1


def judged_pair(result: LabResult, key: str, knowledge: Knowledge) -> tuple[float, float]:
    """(value, cut-off) in the unit the result is judged in."""
    if result.factor == 1.0:
        return result.reported_value, knowledge.cutoffs[key]
    return result.reported_value, knowledge.cutoff_in_unit(key, result.factor)


def side(result: LabResult, key: str, knowledge: Knowledge) -> int | None:
    """Where the result lies against cut-off `key`: BELOW, ON or ABOVE; None when its
    comparator leaves it open."""
    value, cutoff = judged_pair(result, key, knowledge)
    comparator = result.comparator
    if comparator is None:
        return (value > cutoff) - (value < cutoff)
    if comparator in ("<", "<="):  # the true value is at most `value`
        if value < cutoff or (value == cutoff and comparator == "<"):
            return BELOW
        return None
    # ">" or ">=": the true value is at least `value`
    if value > cutoff or (value == cutoff and comparator == ">"):
        return ABOVE
    return None


def below(result: LabResult, key: str, knowledge: Knowledge) -> bool | None:
    """Is the true value strictly below cut-off `key`? None: the comparator leaves it open."""
    where = side(result, key, knowledge)
    if where is None:
        return None if _could_be(result, key, knowledge, BELOW) else False
    return where == BELOW


def above(result: LabResult, key: str, knowledge: Knowledge) -> bool | None:
    """Is the true value strictly above cut-off `key`? None: the comparator leaves it open."""
    where = side(result, key, knowledge)
    if where is None:
        return None if _could_be(result, key, knowledge, ABOVE) else False
    return where == ABOVE


def cutoff_words(result: LabResult, key: str, op: str, knowledge: Knowledge) -> str:
    """The cut-off as the result was judged against it, in the result's own unit at the
    precision the guideline states it: "< 1.7 mg/dL", "< 8.50 mg/dL", "< 0.70 mmol/L"."""
    if result.factor == 1.0:
        # the same number in the laboratory's spelling of the unit (pg/mL for ng/L)
        unit = result.reported_unit or knowledge.cutoff_info[key].unit
        return f"{op} {knowledge.cutoff_figure(key)} {unit}"
    value = knowledge.cutoff_in_unit(key, result.factor)
    figures = max(knowledge.cutoff_info[key].figures, 1)
    decimals = max(0, figures - 1 - math.floor(math.log10(abs(value)))) if value else 0
    shown = f"{value:.{decimals}f}"
    if "." not in knowledge.cutoff_figure(key) and "." in shown:
        # a whole-number figure ("1000 ng/L") reads as a whole number in any unit: 738, not 738.0
        shown = shown.rstrip("0").rstrip(".")
    return f"{op} {shown} {result.reported_unit}"


def _could_be(result: LabResult, key: str, knowledge: Knowledge, where: int) -> bool:
    """For a bound the comparison left open: can the true value lie on that side at all?
    "<200" can be below 180; ">2000" cannot be below 180."""
    value, cutoff = judged_pair(result, key, knowledge)
    if result.comparator in ("<", "<="):
        return where == BELOW or value > cutoff
    return where == ABOVE or value < cutoff
