"""Helpers that turn normalised facts into the parts of a Finding."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cds.engine.compare import cutoff_words
from cds.engine.facts import MEDICATION_KEYS, PatientFacts
from cds.engine.model import Cause, DataGap, Evidence, Finding, GapKind, TestRecommendation
from cds.knowledge import Knowledge
from cds.reader import ConditionMatch, LabResult, MedicationState, MedicationUse, SetAside
from cds.reader.dates import duration_words

B12_RISK_MEDICATIONS = ("metformin", "ppi", "h2-blocker")
DIURETICS = ("loop-diuretic", "thiazide-diuretic")  # lower potassium, sodium and magnesium


def evidence(
    result: LabResult, knowledge: Knowledge, cutoff_key: str, op: str, note: str | None = None
) -> Evidence:
    """The result as a rule used it, with the cut-off in the unit it was judged in."""
    cutoff = cutoff_words(result, cutoff_key, op, knowledge)
    return Evidence(
        analyte=result.analyte,
        display=knowledge.labs[result.analyte].display,
        loinc=result.loinc,
        reported=result.reported,
        value=round(result.value, 4),
        unit=result.unit,
        comparator=result.comparator,
        effective=result.effective,
        cutoff=cutoff,
        source=knowledge.cutoff_info[cutoff_key].source,
        reference=result.reference,
        status=result.status,
        note=note,
        reported_value=result.reported_value,
        reported_unit=result.reported_unit,
        derived=not result.loinc,
        cutoff_figures=(cutoff.split(" ")[1],),
    )


def set_aside_label(item: SetAside, knowledge: Knowledge) -> str:
    """ "Observation/42 (Vitamin B12)": which result, of which test."""
    return f"{item.reference} ({knowledge.labs[item.analyte].display})"


def set_aside_gap(item: SetAside, knowledge: Knowledge) -> DataGap:
    return DataGap(set_aside_label(item, knowledge), item.reason, GapKind.SET_ASIDE)


SET_ASIDE_SHOWN = 3  # results set aside named per test; more are counted, so a card stays short


def set_aside_gaps(items: Iterable[SetAside], knowledge: Knowledge) -> list[DataGap]:
    """The gaps for results set aside: the first few of each test named with why, the rest
    counted in one line ("Vitamin B12: 9,977 more results set aside")."""
    shown: dict[str, int] = {}
    gaps: list[DataGap] = []
    for item in items:
        count = shown.get(item.analyte, 0)
        shown[item.analyte] = count + 1
        if count < SET_ASIDE_SHOWN:
            gaps.append(set_aside_gap(item, knowledge))
    for analyte, count in shown.items():
        if count > SET_ASIDE_SHOWN:
            more = count - SET_ASIDE_SHOWN
            display = knowledge.labs[analyte].display
            gaps.append(DataGap(display, f"{more:,} more results set aside", GapKind.SET_ASIDE))
    return gaps


def superseded(item: SetAside, facts: PatientFacts) -> bool:
    """A result set aside before the latest usable result of its test: newer data answers the
    question it could not, so a card does not list it."""
    latest = facts.latest(item.analyte)
    return latest is not None and item.when is not None and item.when.instant < latest.when.instant


def lab_gaps(facts: PatientFacts, analytes: Iterable[str], knowledge: Knowledge) -> list[DataGap]:
    """Results set aside (not superseded by a newer usable one), and latest results too old to
    count, for these analytes."""
    wanted = tuple(analytes)
    shown = [s for s in facts.set_aside if s.analyte in wanted and not superseded(s, facts)]
    gaps = set_aside_gaps(shown, knowledge)
    for analyte in wanted:
        latest = facts.latest(analyte)
        if latest is not None and not facts.is_recent(latest):
            gaps.append(
                DataGap(
                    knowledge.labs[analyte].display,
                    f"latest result ({latest.reported}, {latest.when.day}) is older than "
                    f"{facts.window_words(analyte)}",
                    GapKind.STALE,
                )
            )
    return gaps


def missing_gap(facts: PatientFacts, display: str, analyte: str) -> DataGap:
    # "usable": a result set aside (unknown unit, uncertain status) does not count as one.
    return DataGap(display, f"no usable result in the last {facts.window_words(analyte)}", GapKind.MISSING)


def missing_gaps(
    facts: PatientFacts, knowledge: Knowledge, display: str, analytes: Iterable[str]
) -> list[DataGap]:
    """ "No usable result" for a test, and what is on file; when the latest result of that test
    is named as too old, that line already says so and "no usable result" is not repeated."""
    wanted = tuple(analytes)
    found = lab_gaps(facts, wanted, knowledge)
    if any(g.item == display and g.kind is GapKind.STALE for g in found):
        return found
    return [missing_gap(facts, display, wanted[0]), *found]


def unavailable_gaps(facts: PatientFacts, asks_for_missing: bool) -> list[DataGap]:
    """What of the chart this check could not see, in a clinician's words (no paging language).
    A list that is only partly there matters only to a finding that asks for what is missing
    (a test without a recent result): a present abnormal result is not changed by older ones."""
    gaps = []
    for key, state in sorted(facts.unavailable.items()):
        if not state.partial:
            gaps.append(DataGap(key, state.detail, GapKind.UNAVAILABLE))
        elif asks_for_missing and key not in MEDICATION_KEYS:
            gaps.append(DataGap(key, "older results were not available to this check", GapKind.UNAVAILABLE))
    return gaps


def recommend_test(knowledge: Knowledge, key: str, reason: str) -> TestRecommendation:
    loinc, display = knowledge.test_for(key)
    return TestRecommendation(key=key, loinc=loinc, display=display, reason=reason)


def medication_cause(use: MedicationUse, facts: PatientFacts | None = None) -> Cause:
    since = use.start.raw if use.start else None
    label = use.name
    if use.start is not None:
        label += f" (since {use.start.day}"  # a date, not the record's timestamp
        if facts is not None and use.start.day <= facts.today:
            label += f", {duration_words(use.start.day, facts.today)}"
        label += ")"
    return Cause(
        kind="medication",
        key=use.class_key,
        display=label,
        matched_by=use.matched_by,
        reference=use.reference,
        since=since,
    )


def condition_cause(match: ConditionMatch) -> Cause:
    return Cause(
        kind="condition",
        key=match.member,
        display=match.display,
        matched_by=match.matched_by,
        reference=match.reference,
        since=match.onset.raw if match.onset else None,
    )


def unique(causes: Iterable[Cause]) -> tuple[Cause, ...]:
    """Drop repeats of the same thing from the same record, keeping order; a diagnosis record
    is one line, however many value-set members it matched (its code's match over its name's)."""
    listed = list(causes)
    best: dict[str | None, Cause] = {}
    for cause in listed:
        if cause.kind == "condition" and cause.reference is not None:
            chosen = best.get(cause.reference)
            if chosen is None or (chosen.matched_by == "text" and cause.matched_by != "text"):
                best[cause.reference] = cause
    seen: set[tuple[str, str | None]] = set()
    result = []
    for cause in listed:
        if cause.kind == "condition" and cause.reference is not None and best[cause.reference] is not cause:
            continue
        marker = (cause.key, cause.reference)
        if marker not in seen:
            seen.add(marker)
            result.append(cause)
    return tuple(result)


def current_medication_causes(facts: PatientFacts, classes: Iterable[str]) -> list[Cause]:
    return [medication_cause(m, facts) for key in classes for m in facts.meds(key)]


CONFIRM_TAKEN = " (on record with an uncertain status: confirm it is taken)"


def uncertain_medication_causes(facts: PatientFacts, classes: Iterable[str]) -> list[Cause]:
    """Medicines on a list whose status leaves open whether they are taken (a reconciliation
    list's `unknown`): worth a low-harm test, named with what to confirm."""
    return [
        replace(medication_cause(m, facts), display=medication_cause(m, facts).display + CONFIRM_TAKEN)
        for key in classes
        for m in facts.meds(key, MedicationState.UNCERTAIN)
    ]


def b12_risk_causes(facts: PatientFacts, knowledge: Knowledge) -> tuple[Cause, ...]:
    causes = current_medication_causes(facts, B12_RISK_MEDICATIONS)
    causes += [condition_cause(c) for c in facts.conditions_in("malabsorption")]
    causes += [condition_cause(c) for c in facts.conditions_in("other-b12-risks")]
    if facts.age is not None and facts.age >= knowledge.cutoffs["older_age_years"]:
        causes.append(Cause(kind="age", key="age-65-plus", display=f"Age {facts.age_words}"))
    return unique(causes)


def neuro_symptoms(facts: PatientFacts, knowledge: Knowledge) -> tuple[Cause, ...]:
    """Documented neurological involvement; in a child, seizures and developmental delay too."""
    found = [*facts.conditions_in("twitching"), *facts.conditions_in("neuropathy")]
    if is_child(facts, knowledge):
        found += facts.conditions_in("paediatric-neuro")
    return unique(condition_cause(c) for c in found)


def is_child(facts: PatientFacts, knowledge: Knowledge) -> bool:
    return facts.age is not None and facts.age < knowledge.cutoffs["paediatric_age_years"]


def for_age(finding: Finding, facts: PatientFacts, knowledge: Knowledge) -> Finding:
    """A card never cites a source written for older patients than this one (NICE NG239 is for
    over 16s) as the basis of its rule; a cut-off taken from it is credited to the reference."""
    if facts.age is None:
        return finding
    too_old = {key for key, min_age in knowledge.source_min_ages.items() if facts.age < min_age}
    if not too_old or not ({*finding.sources, *(e.source for e in finding.evidence)} & too_old):
        return finding

    def fix(item: Evidence | None) -> Evidence | None:
        if item is None or item.source not in too_old:
            return item
        return replace(item, source="codes-reference")

    return replace(
        finding,
        sources=tuple(s for s in finding.sources if s not in too_old),
        primary=fix(finding.primary),
        evidence=tuple(fix(e) for e in finding.evidence),  # type: ignore[misc]
    )


def preliminary(items: Iterable[Evidence]) -> bool:
    return any(e.status == "preliminary" for e in items)


def ordered_unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))
