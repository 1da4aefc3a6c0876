"""Laboratory results: Observations of the tests the knowledge interprets, in typed form.

A result is used only when every part of it can be read without guessing: a known LOINC, a
usable status, this patient, a finite number, a recognised unit and a date. Anything else is
set aside with its kind and reason, so a card can say which result was not used and whether
the test is worth repeating. Entered-in-error and cancelled results, and other patients'
results, are neither used nor shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import NamedTuple

from cds.knowledge import MAX_CODE_LENGTH, Knowledge, LabDefinition
from cds.reader.codes import LOINC, NotThisPatient, SubjectCheck, canonical_system, codings
from cds.reader.dates import When, parse_when
from cds.reader.facts import LabResult, OtherResult, SetAside, SetAsideKind, quantity_text
from cds.reader.fhir import CodeableConcept, Entry, Quantity, Resource, Unreadable
from cds.reader.text_values import read_text_value

USABLE_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
DROPPED_STATUSES = frozenset({"entered-in-error", "cancelled"})
COMPARATORS = frozenset({"<", "<=", ">", ">="})


def analyte_of(concept: CodeableConcept | None, knowledge: Knowledge) -> tuple[str, str] | None:
    """(analyte, LOINC) of the first LOINC coding the knowledge interprets."""
    if concept is None:
        return None
    for coding in concept.coding:
        # The code first: most codings of a chart are not one the knowledge interprets, and a
        # dictionary lookup rules them out before the system's spelling is worked out.
        code = coding.code
        if code is None or len(code) > MAX_CODE_LENGTH:  # an over-long code is never looked up
            continue
        code = code.strip()
        analyte = knowledge.loinc_to_analyte.get(code)
        if analyte is None:
            continue
        system = coding.system
        if system is not None and (system == LOINC or canonical_system(system) == LOINC):
            return analyte, code
    return None


def effective_time(resource: Resource) -> When | None:
    """When the sample was taken: effectiveDateTime, the period, the instant, else `issued`."""
    when = parse_when(resource.effectiveDateTime)  # the usual case, checked first
    if when is not None:
        return when
    period = resource.effectivePeriod
    for candidate in (
        period.start if period else None,
        period.end if period else None,
        resource.effectiveInstant,
        resource.issued,
    ):
        when = parse_when(candidate)
        if when is not None:
            return when
    return None


_ABSENT_WORDS = {
    "error": "the laboratory reported an error (for example a rejected or haemolysed specimen)",
    "not-performed": "the test was not performed",
    "unknown": "value unknown",
    "as-text": "reported as text only",
    "not-a-number": "the value is not a number",
    "masked": "the value is withheld",
}


def _absent_reason(absent: CodeableConcept) -> str:
    code = next((c.code for c in absent.coding if c.code), None)
    return absent.text or _ABSENT_WORDS.get(code or "", code or "reason not given")


class UnitVerdict(NamedTuple):
    factor: float | None
    shown: str  # the unit as the laboratory spelled it
    problem: str | None


def _unit_factor(spellings: tuple[str, ...], shown: str, lab: LabDefinition) -> UnitVerdict:
    if not spellings:
        return UnitVerdict(None, "", "no unit given; the value is not interpreted")
    factors = {lab.factors.get(s.lower()) for s in spellings}
    if None in factors:
        unknown = next(s for s in spellings if lab.factors.get(s.lower()) is None)
        return UnitVerdict(None, shown, f"unit '{unknown[:40]}' not recognised for {lab.display}")
    if len(factors) > 1:
        return UnitVerdict(None, shown, f"units {' and '.join(repr(s[:40]) for s in spellings)} disagree")
    return UnitVerdict(factors.pop(), shown, None)


def _spellings(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))


UnitMemo = dict[tuple[str, str | None, str | None], UnitVerdict]


def _quantity_unit(quantity: Quantity, lab: LabDefinition, memo: UnitMemo) -> UnitVerdict:
    """The unit verdict of a quantity, remembered for the call: a chart repeats the same few
    unit spellings, so most results cost one dictionary lookup here."""
    key = (lab.key, quantity.code, quantity.unit)
    verdict = memo.get(key)
    if verdict is None:
        shown = (quantity.unit or quantity.code or "").strip()
        verdict = memo[key] = _unit_factor(_spellings(quantity.code, quantity.unit), shown, lab)
    return verdict


def _range_units(resource: Resource) -> tuple[str, ...]:
    """Units a result's reference range states: the unit of a value reported as text."""
    found: list[str | None] = []
    for item in resource.referenceRange[:4]:
        for bound in (item.low, item.high):
            if bound is not None:
                found += (bound.code, bound.unit)
    return _spellings(*found)


class _TextReading(NamedTuple):
    value: float
    comparator: str | None
    unit: UnitVerdict
    text: str


def _text_value(resource: Resource, lab: LabDefinition) -> _TextReading | str:
    """A value only reported as text, or why there is none: a bound or number the text states,
    in the unit the text, a value-less valueQuantity or the reference range states."""
    text = resource.valueString
    if text is None or not text.strip():
        if resource.valueCodeableConcept is not None:
            return "reported as a coded answer, not as a number with a unit"
        return "no numeric value"
    stripped = text.strip()
    shown = stripped if len(stripped) <= 40 else stripped[:39] + "…"
    read = read_text_value(stripped)
    if read is None:
        return f"reported as text '{shown}', not as a number with a unit"
    quantity = resource.valueQuantity
    quantity_units = _spellings(quantity.code, quantity.unit) if quantity is not None else ()
    spellings = _spellings(read.unit) or quantity_units or _range_units(resource)
    if not spellings:
        return f"reported as text '{shown}' with no unit stated anywhere; not interpreted"
    return _TextReading(read.value, read.comparator, _unit_factor(spellings, spellings[-1], lab), stripped)


def read_result(
    resource: Resource,
    found: tuple[str, str],
    knowledge: Knowledge,
    subject: SubjectCheck,
    latest_day: date,
    memo: UnitMemo,
) -> LabResult | SetAside | None:
    """One Observation of a known analyte (`found`: analyte and LOINC, from analyte_of)."""
    analyte, loinc = found
    lab = knowledge.labs[analyte]
    status = resource.status
    if status in DROPPED_STATUSES:
        return None
    verdict = subject.verdict(resource)
    if verdict is NotThisPatient.OTHER_PATIENT:
        return None  # another person's data: never used, never shown
    reference = resource.ref
    if verdict is not None:
        reason = f"{verdict}; cannot confirm it belongs to this patient"
        return SetAside(analyte, reference, SetAsideKind.UNCONFIRMED_SUBJECT, reason)
    if status not in USABLE_STATUSES:
        reason = f"status '{status or 'missing'}' is not a reportable result"
        return SetAside(analyte, reference, SetAsideKind.NOT_REPORTABLE, reason)
    when = effective_time(resource)
    outcome = _judged_value(resource, analyte, loinc, reference, lab, when, knowledge, latest_day, memo)
    if isinstance(outcome, LabResult):
        return outcome
    kind, reason = outcome
    day = when if when is not None and when.day <= latest_day else None
    return SetAside(analyte, reference, kind, reason, day)


Problem = tuple[SetAsideKind, str]


def _judged_value(
    resource: Resource,
    analyte: str,
    loinc: str,
    reference: str,
    lab: LabDefinition,
    when: When | None,
    knowledge: Knowledge,
    latest_day: date,
    memo: UnitMemo,
) -> LabResult | Problem:
    """The result, or why its value cannot be used."""
    unreadable = SetAsideKind.UNREADABLE
    if resource.dataAbsentReason is not None:
        # A reason the value is absent (specimen error, not performed...) wins over any value.
        return unreadable, f"no result: {_absent_reason(resource.dataAbsentReason)}"
    quantity = resource.valueQuantity
    text: str | None = None
    if quantity is not None and quantity.value is not None:  # the usual case
        value, comparator = quantity.value, quantity.comparator
        unit = _quantity_unit(quantity, lab, memo)
    else:
        reading = _text_value(resource, lab)
        if isinstance(reading, str):
            return unreadable, reading
        value, comparator, unit, text = reading
    if value != value or value in (_INF, _MINUS_INF):
        return unreadable, "value is not a finite number"
    if value < 0:
        return unreadable, "negative value"
    if comparator is not None and comparator not in COMPARATORS:
        return unreadable, f"comparator {comparator[:20]!r} cannot be interpreted"
    factor, unit_shown, unit_problem = unit
    if unit_problem or factor is None:
        return unreadable, unit_problem or "unit not usable"
    if when is None:
        return SetAsideKind.UNDATED, "no usable date"
    if when.day > latest_day:
        return SetAsideKind.FUTURE, f"dated in the future ({when.raw[:10]})"
    limits = knowledge.plausible_limits.get(analyte)
    if limits is not None and not limits.holds(value * factor):
        shown = quantity_text(value, comparator, unit_shown)
        return SetAsideKind.IMPLAUSIBLE, (
            f"{shown} is outside physiological limits ({limits.text(lab.unit)}): probable data or "
            "sample error, not used"
        )
    return LabResult(
        analyte, loinc, reference, resource.status or "", when, value * factor, lab.unit, value,
        unit_shown, factor, comparator, text,
    )  # fmt: skip


_INF, _MINUS_INF = float("inf"), float("-inf")


def _has_value(resource: Resource) -> bool:
    quantity = resource.valueQuantity
    return (quantity is not None and quantity.value is not None) or bool(
        resource.valueCodeableConcept or resource.valueString or resource.component or resource.hasMember
    )


def read_other_result(
    resource: Resource, orderable: frozenset[str], subject: SubjectCheck, latest_day: date
) -> OtherResult | None:
    """A usable result of a test a card can suggest but the knowledge does not interpret:
    this patient, a status that counts, a value and no reason it is absent, a date."""
    concept = resource.code
    if concept is None or not any(
        (code := c.code) is not None and code.strip() in orderable for c in concept.coding
    ):
        return None  # a cheap look at the raw codes before the codings are read properly
    loincs = tuple(c for s, c, _d in codings(concept) if s == LOINC and c in orderable)
    if not loincs or resource.status not in USABLE_STATUSES or subject.verdict(resource) is not None:
        return None
    if resource.dataAbsentReason is not None or not _has_value(resource):
        return None
    when = effective_time(resource)
    if when is None or when.day > latest_day:
        return None
    return OtherResult(loincs, resource.ref, when)


def malformed_result(item: Unreadable, knowledge: Knowledge, subject: SubjectCheck) -> SetAside | None:
    """An Observation the decoder could not read, named when it was a known test of this
    patient (it is then as good as not done); others' records and other tests are not shown."""
    found = next(
        (
            (analyte, code)
            for system, code in item.codes
            if (analyte := knowledge.analyte_for_loinc(code.strip())) is not None
            and canonical_system(system) == LOINC
        ),
        None,
    )
    if found is None or subject.reference_verdict(item.subject) is NotThisPatient.OTHER_PATIENT:
        return None
    return SetAside(found[0], item.ref, SetAsideKind.MALFORMED, f"could not be read: {item.reason}")


class ResultReading(NamedTuple):
    results: dict[str, tuple[LabResult, ...]]  # per analyte, newest first
    set_aside: tuple[SetAside, ...]
    other: tuple[OtherResult, ...]


def read_results(
    entries: Iterable[Entry],
    unreadable: Iterable[Unreadable],
    knowledge: Knowledge,
    subject: SubjectCheck,
    today: date,
) -> ResultReading:
    """Every Observation of these entries, in one pass."""
    latest_day = today + timedelta(days=1)  # a day of slack for time zones
    usable: dict[str, list[LabResult]] = {}
    aside: list[SetAside] = []
    other: list[OtherResult] = []
    memo: UnitMemo = {}
    orderable = knowledge.orderable_loincs
    for entry in entries:
        resource = entry.resource
        if resource is None or resource.resourceType != "Observation":
            continue
        found = analyte_of(resource.code, knowledge)
        if found is None:
            result = read_other_result(resource, orderable, subject, latest_day)
            if result is not None:
                other.append(result)
            continue
        outcome = read_result(resource, found, knowledge, subject, latest_day, memo)
        if isinstance(outcome, LabResult):
            usable.setdefault(outcome.analyte, []).append(outcome)
        elif outcome is not None:
            aside.append(outcome)
    for item in unreadable:
        if item.resource_type == "Observation" and (outcome := malformed_result(item, knowledge, subject)):
            aside.append(outcome)
    ordered = {
        analyte: tuple(sorted(results, key=lambda r: (r.when.instant, r.reference), reverse=True))
        for analyte, results in usable.items()
    }
    return ResultReading(ordered, tuple(aside), tuple(other))
