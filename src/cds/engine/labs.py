"""Laboratory results: select the relevant Observations and bring them to canonical units.

A result is only used when every part of it can be read without guessing: a known LOINC,
a usable status, this patient, a finite number, a recognised unit and a date. Anything
else is set aside with the reason, so a finding can say which result was not used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from cds.engine.dates import When, parse_when
from cds.engine.fhirjson import (
    Entry,
    SubjectCheck,
    arr,
    canonical_system,
    codings,
    number,
    obj,
    reference_id,
    text,
)
from cds.knowledge import Knowledge, LabDefinition

LOINC_SYSTEM = "http://loinc.org"
USABLE_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
DROPPED_STATUSES = frozenset({"entered-in-error", "cancelled"})
COMPARATORS = frozenset({"<", "<=", ">", ">="})


class LabResult(NamedTuple):  # immutable; a tuple because charts bring hundreds per call
    analyte: str
    display: str
    loinc: str
    reference: str
    value: float  # canonical unit
    unit: str  # canonical unit
    comparator: str | None
    reported: str  # as reported: "<150 pg/mL"
    when: When
    status: str
    factor: float = 1.0  # reported unit -> canonical unit
    raw_value: float | None = None  # as reported, before conversion

    @property
    def effective(self) -> str:
        return self.when.raw

    def judged_against(self, cutoff: float) -> tuple[float, float]:
        """(value, cut-off) in the unit the laboratory reported, the cut-off rounded to the
        reported precision: 1.7 mg/dL sits on the 0.70 mmol/L cut-off (1.70 mg/dL), it is not
        below it, even though 1.7 / 2.431 = 0.699."""
        if self.factor == 1.0 or self.raw_value is None:
            return self.value, cutoff
        return self.raw_value, round(cutoff / self.factor, _decimals(self.raw_value))


@dataclass(frozen=True)
class SetAside:
    """A relevant result that could not be used, and why."""

    analyte: str
    item: str  # "Observation/42 (Vitamin B12)"
    reason: str
    # The result exists but cannot be read (no number, unknown unit, implausible value...):
    # it is effectively missing and the test is worth repeating. False when the remedy is not
    # a new sample (a pending status, a record that may be another patient's).
    unreadable: bool = False
    day: date | None = None  # when it was taken, where that is known and not in the future
    conflict: bool = False  # another result taken at the same instant disagrees with it


def _format_number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _decimals(value: float) -> int:
    shown = repr(float(value))
    if "e" in shown or "E" in shown:
        return 6
    _whole, _, fraction = shown.partition(".")
    return 0 if fraction in ("", "0") else len(fraction)


def _analyte_of(resource: dict[str, Any], knowledge: Knowledge) -> tuple[str, str] | None:
    code = resource.get("code")
    found = code.get("coding") if isinstance(code, dict) else None
    if not isinstance(found, list):
        return None
    for coding in found:
        # The code first: most codings of a chart are not one the knowledge interprets, and
        # a dictionary lookup rules them out before the system's spelling is worked out.
        value = coding.get("code") if isinstance(coding, dict) else None
        if not isinstance(value, str):
            continue
        code = value.strip()
        analyte = knowledge.analyte_for_loinc(code)
        if not analyte:
            continue
        system = coding.get("system")
        if isinstance(system, str) and (system == LOINC_SYSTEM or canonical_system(system) == LOINC_SYSTEM):
            return analyte, code
    return None


def _effective(resource: dict[str, Any]) -> When | None:
    when = parse_when(resource.get("effectiveDateTime"))  # the usual case, checked first
    if when is not None:
        return when
    period = obj(resource, "effectivePeriod")
    for candidate in (
        period.get("start"),
        period.get("end"),
        resource.get("effectiveInstant"),
        resource.get("issued"),
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


def _absent_reason(absent: Any) -> str:
    code = next((c for x in arr(absent, "coding") if (c := text(x, "code"))), None)
    words = text(absent, "text") if isinstance(absent, dict) else None
    return words or _ABSENT_WORDS.get(code or "", code or "reason not given")


def _non_numeric(resource: dict[str, Any]) -> str:
    """Why a result without a valueQuantity cannot be read, quoting a short text value."""
    value = resource.get("valueString")
    if isinstance(value, str) and value.strip():
        shown = value.strip()
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        return f"reported as text '{shown}', not as a number with a unit"
    concept = resource.get("valueCodeableConcept")
    if isinstance(concept, dict):
        return "reported as a coded answer, not as a number with a unit"
    return "no numeric value"


UnitVerdict = tuple[float | None, str, str | None]  # factor, unit as reported, problem


def _unit_factor(quantity: dict[str, Any], lab: LabDefinition) -> UnitVerdict:
    """(factor, unit as reported, reason the unit cannot be used)."""
    spellings = [s.strip() for s in (text(quantity, "code"), text(quantity, "unit")) if s and s.strip()]
    shown = text(quantity, "unit") or text(quantity, "code") or ""
    if not spellings:
        return None, "", "no unit given; the value is not interpreted"
    factors = {lab.factors.get(s.lower()) for s in spellings}
    if None in factors:
        unknown = next(s for s in spellings if lab.factors.get(s.lower()) is None)
        return None, shown, f"unit '{unknown}' not recognised for {lab.display}"
    if len(factors) > 1:
        return None, shown, f"unit '{spellings[1]}' and unit code '{spellings[0]}' disagree"
    return factors.pop(), shown.strip(), None


UnitMemo = dict[tuple[str, Any, Any], UnitVerdict]


def _unit_of(quantity: dict[str, Any], lab: LabDefinition, memo: UnitMemo) -> UnitVerdict:
    """_unit_factor, remembered for the call: a chart repeats the same few unit spellings."""
    key = (lab.key, quantity.get("code"), quantity.get("unit"))
    try:
        return memo[key]
    except KeyError:
        verdict = memo[key] = _unit_factor(quantity, lab)
        return verdict
    except TypeError:  # an unhashable (malformed) unit: judged without the memo
        return _unit_factor(quantity, lab)


def _read_one(
    resource: dict[str, Any],
    found: tuple[str, str],
    knowledge: Knowledge,
    subject: SubjectCheck,
    latest_day: date,
    memo: UnitMemo,
) -> LabResult | SetAside | None:
    """One result of a known analyte (`found`: analyte and LOINC, from _analyte_of)."""
    analyte, loinc = found
    lab = knowledge.labs[analyte]
    raw_status = resource.get("status")
    status = raw_status if isinstance(raw_status, str) else None
    if status in DROPPED_STATUSES:
        return None
    verdict = subject.verdict(resource)
    if verdict == "subject is another patient":
        return None  # another person's data: never used, never shown

    def aside(reason: str) -> SetAside:  # the label is only built for results set aside
        return SetAside(analyte, f"{reference_id(resource)} ({lab.display})", reason)

    if verdict is not None:
        return aside(f"{verdict}; cannot confirm it belongs to this patient")
    if status not in USABLE_STATUSES:
        return aside(f"status '{status or 'missing'}' is not a reportable result")
    when = _effective(resource)
    day = when.day if when is not None and when.day <= latest_day else None

    def unreadable(reason: str) -> SetAside:
        return SetAside(analyte, f"{reference_id(resource)} ({lab.display})", reason, True, day)

    quantity = resource.get("valueQuantity")
    absent = resource.get("dataAbsentReason")
    if absent is not None:
        # A reason the value is absent (specimen error, not performed...) wins over any value.
        return unreadable(f"no result: {_absent_reason(absent)}")
    if not quantity or not isinstance(quantity, dict):
        return unreadable(_non_numeric(resource))
    raw_value = quantity.get("value")
    value = number(raw_value)
    if value is None:
        return unreadable("value is not a finite number")
    if value < 0:
        return unreadable("negative value")
    comparator = quantity.get("comparator")
    if comparator is not None and comparator not in COMPARATORS:
        return unreadable(f"comparator {comparator!r} cannot be interpreted")
    factor, unit_shown, unit_problem = _unit_of(quantity, lab, memo)
    if unit_problem or factor is None:
        return unreadable(unit_problem or "unit not usable")
    if when is None:
        return unreadable("no usable date")
    if when.day > latest_day:
        return unreadable(f"dated in the future ({when.raw[:10]})")
    shown = f"{comparator or ''}{_format_number(raw_value)} {unit_shown}".strip()
    limits = knowledge.plausible_limits.get(analyte)
    if limits is not None and not limits.holds(value * factor):
        return unreadable(
            f"{shown} is outside physiological limits ({limits.text(lab.unit)}): probable data or "
            "sample error, not used"
        )
    return LabResult(
        analyte,
        lab.display,
        loinc,
        reference_id(resource),
        value * factor,
        lab.unit,
        comparator,
        shown,
        when,
        status,
        factor,
        float(value),
    )


class LabReading(NamedTuple):
    usable: dict[str, tuple[LabResult, ...]]  # per analyte, newest first
    set_aside: tuple[SetAside, ...]
    # LOINCs of the tests with a usable result in the window: a result counts for every code of
    # its analyte (a molar B12 answers a mass B12 test); a test the knowledge does not interpret
    # counts under the codes a card can suggest. Empty without a window.
    recent_loincs: frozenset[str]


def read_lab_results(
    items: Iterable[Entry],
    knowledge: Knowledge,
    subject: SubjectCheck,
    today: date,
    window_start: date | None = None,
) -> LabReading:
    """Usable results per analyte, newest first, the relevant results set aside and, given
    a window, the LOINCs with a recent result (in the same pass)."""
    latest_day = today + timedelta(days=1)  # a day of slack for time zones
    usable: dict[str, list[LabResult]] = {}
    aside: list[SetAside] = []
    memo: UnitMemo = {}
    others: set[str] = set()  # LOINCs of recent results of tests the knowledge does not interpret
    orderable = knowledge.orderable_loincs
    for entry in items:
        resource = entry.resource
        if resource.get("resourceType") != "Observation":
            continue
        try:
            found = _analyte_of(resource, knowledge)
            if found is None:
                if window_start is not None:
                    others.update(_other_recent(resource, orderable, subject, latest_day, window_start))
                continue
            outcome = _read_one(resource, found, knowledge, subject, latest_day, memo)
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue  # a malformed resource never stops the assessment
        if isinstance(outcome, LabResult):
            usable.setdefault(outcome.analyte, []).append(outcome)
        elif isinstance(outcome, SetAside):
            aside.append(outcome)
    ordered = {
        analyte: tuple(sorted(results, key=lambda r: (r.when.instant, r.reference), reverse=True))
        for analyte, results in usable.items()
    }
    if window_start is not None:
        for analyte, results in ordered.items():
            if any(r.when.day >= window_start for r in results):
                others.update(knowledge.labs[analyte].loincs)
    return LabReading(ordered, tuple(aside), frozenset(others))


def _other_result_usable(
    resource: dict[str, Any], subject: SubjectCheck, latest_day: date, window_start: date
) -> bool:
    """The same rule for a test the knowledge does not interpret (vitamin D, a panel): this
    patient, a status that counts, a value and no reason it is absent, dated in the window."""
    if text(resource, "status") not in USABLE_STATUSES or subject.verdict(resource) is not None:
        return False
    if resource.get("dataAbsentReason") is not None:
        return False
    quantity = resource.get("valueQuantity")
    has_value = (isinstance(quantity, dict) and number(quantity.get("value")) is not None) or any(
        resource.get(key) for key in ("valueCodeableConcept", "valueString", "component", "hasMember")
    )
    when = _effective(resource)
    return has_value and when is not None and window_start <= when.day <= latest_day


def _other_recent(
    resource: dict[str, Any],
    orderable: frozenset[str],
    subject: SubjectCheck,
    latest_day: date,
    window_start: date,
) -> list[str]:
    """The orderable LOINCs of a recent, usable result of a test the knowledge does not
    interpret; results of tests no card can suggest are not judged at all."""
    concept = obj(resource, "code")
    if not any(  # a cheap look at the raw codes before the codings are read properly
        isinstance(coding, dict) and isinstance(code := coding.get("code"), str) and code.strip() in orderable
        for coding in arr(concept, "coding")
    ):
        return []
    loincs = [c for s, c, _d in codings(concept) if s == LOINC_SYSTEM and c in orderable]
    if loincs and _other_result_usable(resource, subject, latest_day, window_start):
        return loincs
    return []
