"""Results of one test taken at the same instant that disagree: neither drives a finding.

Two usable results of an analyte with the same time (a duplicate feed, two analysers, a
corrected value sent without `amended`) that fall on different sides of one of the
analyte's cut-offs cannot both be true, and nothing in the record says which is: picking
one by a tie-break would let chance decide between "deficient" and "normal". Both are set
aside as conflicting (named on the card, the test offered again). Results that agree (the
same side of every cut-off) are a harmless duplicate: the newest-first order keeps one.

When the newest results conflict, older results of the analyte are not used in their place
either: the latest word on it is unreadable, and an older value would be shown as current.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from itertools import groupby

from cds.engine.fhirjson import Entry, SubjectCheck
from cds.engine.labs import LabReading, LabResult, SetAside, read_lab_results
from cds.knowledge import Knowledge


def _band(value: float, cutoffs: Sequence[float]) -> tuple[int, ...]:
    # -1 below, 0 on, 1 above each cut-off: a value on a cut-off is its own band
    return tuple((value > c) - (value < c) for c in cutoffs)


def _conflicting(group: Sequence[LabResult], cutoffs: Sequence[float] | None) -> bool:
    if len(group) < 2:
        return False
    if cutoffs is None:  # no cut-off of its own (albumin): any difference conflicts
        return len({r.value for r in group}) > 1
    return len({_band(r.value, cutoffs) for r in group}) > 1


def _reason(result: LabResult, group: Sequence[LabResult]) -> str:
    others = ", ".join(f"{r.reference} ({r.reported})" for r in group if r is not result)
    return (
        f"{result.reported} conflicts with {others} taken at the same time "
        f"({result.when.raw}): neither is used; repeat the test"
    )


def set_aside_conflicts(
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
        lab = knowledge.labs[analyte]
        cutoffs = [knowledge.cutoffs[key] for key in lab.decides] or None
        usable: list[LabResult] = []
        for index, (_instant, grouped) in enumerate(groupby(results, key=lambda r: r.when.instant)):
            group = list(grouped)
            if not _conflicting(group, cutoffs):
                usable.extend(group)
                continue
            day: date | None = group[0].when.day
            aside.extend(
                SetAside(analyte, f"{r.reference} ({lab.display})", _reason(r, group), True, day, True)
                for r in group
            )
            if index == 0:
                break  # the newest results conflict: older ones do not stand in for them
        kept[analyte] = tuple(usable)
    return {a: r for a, r in kept.items() if r}, tuple(aside)


def settled_lab_results(
    items: Iterable[Entry], knowledge: Knowledge, subject: SubjectCheck, today: date, window_start: date
) -> LabReading:
    """read_lab_results with conflicting same-instant results set aside: the usable results
    without them, those results among the set-aside ones, and the recent LOINCs without the
    analytes the conflicts leave with no recent result. The one reading of a chart's results
    that the rules and the cards' own check both use."""
    labs, set_aside, recent_loincs = read_lab_results(items, knowledge, subject, today, window_start)
    settled, conflicting = set_aside_conflicts(labs, knowledge)
    if conflicting:  # results that conflict with one another are no recent result either
        recent_loincs -= recent_codes_lost(labs, settled, knowledge, window_start)
    return LabReading(settled, set_aside + conflicting, recent_loincs)


def recent_codes_lost(
    labs: Mapping[str, tuple[LabResult, ...]],
    settled: Mapping[str, tuple[LabResult, ...]],
    knowledge: Knowledge,
    window_start: date,
) -> frozenset[str]:
    """LOINCs of the analytes that had a recent result before conflicts were set aside and
    have none after (`labs` and `settled` as before and after set_aside_conflicts)."""
    lost: set[str] = set()
    for analyte, results in labs.items():
        kept = settled.get(analyte, ())
        if results[0].when.day >= window_start and not (kept and kept[0].when.day >= window_start):
            lost.update(knowledge.labs[analyte].loincs)
    return frozenset(lost)
