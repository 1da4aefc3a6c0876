"""Results of one test taken at the same instant that disagree: neither drives a finding.

Two usable results of an analyte with the same time (a duplicate feed, two analysers, a
corrected value sent without `amended`) that fall on different sides of one of the analyte's
cut-offs cannot both be true, and nothing in the record says which is: picking one by a
tie-break would let chance decide between "deficient" and "normal". Both are set aside as
conflicting (named on the card, the test offered again). Results that agree (the same side of
every cut-off, each judged in its own unit by the one comparison) are a harmless duplicate:
the newest-first order keeps one. So 1.7 mg/dL and 0.70 mmol/L magnesium taken together
agree (both sit on the 0.70 mmol/L cut-off), as do 1.2 mg/dL and 0.49 mmol/L (a value on a
cut-off at its reported precision agrees with either side of it).

When the newest results conflict, older results of the analyte are not used in their place
either: the latest word on it is unreadable, and an older value would be shown as current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby

from cds.engine.compare import ON, side
from cds.knowledge import Knowledge
from cds.reader import LabResult, SetAside, SetAsideKind


def _conflicting(group: Sequence[LabResult], cutoffs: Sequence[str], knowledge: Knowledge) -> bool:
    if len(group) < 2:
        return False
    if not cutoffs:  # no cut-off of its own (albumin): any difference conflicts
        return len({round(r.value, 6) for r in group}) > 1
    for key in cutoffs:
        sides = {side(r, key, knowledge) for r in group}
        # A value on a cut-off at its reported precision agrees with either side of it: 1.2 mg/dL
        # and 0.49 mmol/L magnesium are one measurement written in two units.
        sides.discard(ON)
        if len(sides) > 1:
            return True
    return False


_NAMED = 3  # others named in a reason; more are counted (a reason per result stays short: linear)


def _reason(result: LabResult, group: Sequence[LabResult]) -> str:
    named = [r for r in group[: _NAMED + 1] if r is not result][:_NAMED]
    others = ", ".join(f"{r.reference} ({r.reported})" for r in named)
    if len(group) - 1 > len(named):
        others += f" and {len(group) - 1 - len(named):,} more"
    return (
        f"{result.reported} conflicts with {others} taken at the same time "
        f"({result.when.raw}): neither is used; repeat the test"
    )


def settle(
    labs: Mapping[str, tuple[LabResult, ...]], knowledge: Knowledge
) -> tuple[dict[str, tuple[LabResult, ...]], tuple[SetAside, ...]]:
    """The usable results per analyte (newest first) without conflicting same-instant
    results, and those results set aside, each naming the result it conflicts with."""
    kept: dict[str, tuple[LabResult, ...]] = {}
    aside: list[SetAside] = []
    for analyte, results in labs.items():
        if len(results) < 2 or len({r.when.instant for r in results}) == len(results):
            kept[analyte] = results  # the usual case: no two results share an instant
            continue
        cutoffs = knowledge.labs[analyte].decides
        usable: list[LabResult] = []
        for index, (_instant, grouped) in enumerate(groupby(results, key=lambda r: r.when.instant)):
            group = list(grouped)
            if not _conflicting(group, cutoffs, knowledge):
                usable.extend(group)
                continue
            aside.extend(
                SetAside(analyte, r.reference, SetAsideKind.CONFLICT, _reason(r, group), r.when, r.reported)
                for r in group
            )
            if index == 0:
                break  # the newest results conflict: older ones do not stand in for them
        if usable:
            kept[analyte] = tuple(usable)
    return kept, tuple(aside)
