"""Compare a reported value, comparator included, with a cut-off.

`<150` means the true value lies below 150: it is certainly below 180, but `<200` may or
may not be. Each test answers True, False or None (the comparator leaves it open).
"""

from __future__ import annotations

from cds.engine.labs import LabResult


def below(value: float, comparator: str | None, cutoff: float) -> bool | None:
    """Is the true value strictly below `cutoff`?"""
    if comparator is None:
        return value < cutoff
    if comparator == "<":
        return True if value <= cutoff else None
    if comparator == "<=":
        return True if value < cutoff else None
    # ">" or ">=": the true value is at least `value`
    return False if value >= cutoff else None


def above(value: float, comparator: str | None, cutoff: float) -> bool | None:
    """Is the true value strictly above `cutoff`?"""
    if comparator is None:
        return value > cutoff
    if comparator == ">":
        return True if value >= cutoff else None
    if comparator == ">=":
        return True if value > cutoff else None
    # "<" or "<=": the true value is at most `value`
    return False if value <= cutoff else None


def result_below(result: LabResult, cutoff: float) -> bool | None:
    """`below` for a lab result, judged in the unit and precision it was reported in."""
    value, limit = result.judged_against(cutoff)
    return below(value, result.comparator, limit)


def result_above(result: LabResult, cutoff: float) -> bool | None:
    value, limit = result.judged_against(cutoff)
    return above(value, result.comparator, limit)
