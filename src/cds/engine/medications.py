"""Medications: classify MedicationStatements and MedicationRequests into knowledge classes.

Matching order per class: RxNorm code, then ATC prefix, then whole-word text as a last
resort. A medication is "current" (active, intended, on-hold), "past" (completed,
stopped) or "uncertain" (any other status, or no subject): uncertain records never
trigger a finding, but an uncertain B12 record stops us from offering B12 treatment.

Status and dates must both say current: a record whose own end dates (effectivePeriod.end,
dispenseRequest.validityPeriod.end, the dosage timing bounds) all lie before "now" is
history whatever its status says; when one end date has passed and another has not, the
record is uncertain and `note` says what to confirm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.engine.dates import When, has_ended, parse_when
from cds.engine.fhirjson import Entry, SubjectCheck, arr, codings, entries, obj, reference_id, text
from cds.knowledge import Knowledge, code_fits, name_fits, word_form
from cds.knowledge.doses import CombinationRule

_STATES = {
    "MedicationStatement": {
        "active": "current",
        "intended": "current",
        "on-hold": "current",
        "completed": "past",
        "stopped": "past",
    },
    "MedicationRequest": {
        "active": "current",
        "on-hold": "current",
        "completed": "past",
        "stopped": "past",
    },
}
_DROPPED = frozenset({"entered-in-error", "cancelled", "not-taken"})


@dataclass(frozen=True)
class MedicationUse:
    class_key: str
    name: str  # as the chart names it
    matched_by: str  # "rxnorm" | "atc" | "text"
    reference: str
    state: str  # "current" | "past" | "uncertain"
    status: str
    start: When | None
    end: When | None
    last_known: When | None  # the latest date the record mentions
    note: str | None = None  # why an "active" record counts as history or is uncertain


@dataclass(frozen=True)
class UnidentifiedMedication:
    """A current medication record with neither a code the knowledge maps nor any name."""

    reference: str



def _concepts(resource: dict[str, Any], medications: Mapping[str, dict[str, Any]]) -> list[Any]:
    """The CodeableConcepts that describe what was taken, following medicationReference."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return [concept]
    ref = text(obj(resource, "medicationReference"), "reference")
    medication: dict[str, Any] | None = None
    if ref and ref.startswith("#"):
        for contained in arr(resource, "contained"):
            if isinstance(contained, dict) and contained.get("id") == ref[1:]:
                medication = contained
                break
    elif ref:
        medication = medications.get(ref)
        if medication is None and "/Medication/" in ref:  # absolute URL to a bundled Medication
            medication = medications.get("Medication/" + ref.rsplit("/Medication/", 1)[1])
    found: list[Any] = []
    if medication and medication.get("resourceType") == "Medication":
        found.append(obj(medication, "code"))
        found.extend(obj(i, "itemCodeableConcept") for i in arr(medication, "ingredient"))
    display = text(obj(resource, "medicationReference"), "display")
    if display:
        found.append({"text": display})
    return found


def _name(concepts: list[Any]) -> str:
    for concept in concepts:
        if label := text(concept, "text"):
            return label
        for _system, _code, display in codings(concept):
            if display:
                return display
    return ""


def _classify(concepts: list[Any], knowledge: Knowledge) -> dict[str, str]:
    """class key -> how it matched (the strongest way for that class)."""
    rxnorm = knowledge.systems["rxnorm"]
    atc = knowledge.systems["atc"]
    rx_codes: set[str] = set()
    atc_codes: list[str] = []
    texts: list[str] = []
    for concept in concepts:
        if (label := text(concept, "text")) and name_fits(label):
            texts.append(label)
        for system, code, display in codings(concept):
            if not code_fits(code):
                pass  # over-long: cannot be an RxNorm or ATC code, never looked up
            elif system in rxnorm:
                rx_codes.add(code)
            elif system in atc:
                atc_codes.append(code.upper())
            if display and name_fits(display):
                texts.append(display)
    named = knowledge.medication_names.find(word_form(" ".join(texts))) if texts else set()
    matches: dict[str, str] = {}
    by_code = knowledge.medication_codes
    coded = {key for code in rx_codes for key in by_code.get(code, ())}  # one dict lookup per code
    for key, med_class in knowledge.medication_classes.items():
        if key in coded:
            matches[key] = "rxnorm"
        elif any(code.startswith(med_class.atc_prefixes) for code in atc_codes):
            matches[key] = "atc"
        elif key in named and _enough(med_class.combination, texts, key, knowledge):
            matches[key] = "text"
    return matches


def _enough(rule: CombinationRule | None, texts: list[str], key: str, knowledge: Knowledge) -> bool:
    """A name naming this class counts unless it is a combination holding too little of it
    (low-dose B12 or folic acid in a multivitamin); codes were judged when the map was built."""
    if rule is None:
        return True
    naming = [t for t in texts if key in knowledge.medication_names.find(word_form(t))]
    return any(rule.counts(t) for t in naming)


def _dosage_ends(resource: dict[str, Any]) -> list[tuple[str, When]]:
    field = "dosageInstruction" if resource.get("resourceType") == "MedicationRequest" else "dosage"
    found = []
    for dosage in arr(resource, field):
        bounds = obj(obj(obj(dosage, "timing"), "repeat"), "boundsPeriod")
        end = parse_when(bounds.get("end"))
        if end is not None:
            found.append(("dosage timing ends", end))
    return found


def _dates(resource: dict[str, Any]) -> tuple[When | None, list[tuple[str, When]], When | None]:
    """Start, every end date the record states (with what states it), latest date mentioned."""
    ends: list[tuple[str, When]] = []
    if resource.get("resourceType") == "MedicationStatement":
        period = obj(resource, "effectivePeriod")
        start_candidates = (
            period.get("start"),
            resource.get("effectiveDateTime"),
            resource.get("dateAsserted"),
        )
        end = parse_when(period.get("end"))
        if end is not None:
            ends.append(("effective period ends", end))
    else:
        validity = obj(obj(resource, "dispenseRequest"), "validityPeriod")
        start_candidates = (resource.get("authoredOn"), validity.get("start"))
        end = parse_when(validity.get("end"))
        if end is not None:
            ends.append(("prescription valid until", end))
    ends.extend(_dosage_ends(resource))
    parsed = [w for w in (parse_when(c) for c in start_candidates) if w is not None]
    start = parsed[0] if parsed else None
    known = [*parsed, *(w for _, w in ends)]
    last = max(known) if known else None
    return start, ends, last


def currency(
    state: str, status: str, ends: list[tuple[str, When]], now: datetime | None
) -> tuple[str, str | None]:
    """The record's state once its end dates are heard, and a note when they changed it."""
    if state != "current" or not ends or now is None:
        return state, None
    ended = [(what, w) for what, w in ends if has_ended(w, now)]
    if not ended:
        return state, None
    if len(ended) == len(ends):
        latest = max(w for _, w in ended)
        return "past", f"recorded until {latest.day.isoformat()} (status '{status}', but ended)"
    what, gone = ended[0]
    open_what, runs = next((x, w) for x, w in ends if not has_ended(w, now))
    return "uncertain", (
        f"status '{status}' but {what} {gone.day.isoformat()} while {open_what} "
        f"{runs.day.isoformat()}: confirm whether it is still taken"
    )


def read_medications(
    items: Iterable[Entry],
    medications: Mapping[str, dict[str, Any]],
    knowledge: Knowledge,
    subject: SubjectCheck,
    now: datetime | None = None,
    unidentified: list[UnidentifiedMedication] | None = None,
) -> tuple[MedicationUse, ...]:
    """Every classified medication record of this patient (dropped statuses excluded).

    With `now`, end dates count (see `currency`). Current records that carry neither a
    known code nor any name are appended to `unidentified` when a list is given.
    """
    found: list[MedicationUse] = []
    for entry in items:
        resource = entry.resource
        kind = resource.get("resourceType")
        if kind not in _STATES:
            continue
        try:
            raw_status = resource.get("status")
            status = raw_status if isinstance(raw_status, str) else ""
            if status in _DROPPED:
                continue
            verdict = subject.verdict(resource)
            if verdict == "subject is another patient":
                continue
            concepts = _concepts(resource, medications)
            matches = _classify(concepts, knowledge)
            name = _name(concepts)
            if not matches and (unidentified is None or name):
                continue  # a named medicine no rule reads: its dates do not matter
            state = _STATES[kind].get(status, "uncertain") if verdict is None else "uncertain"
            start, ends, last = _dates(resource)
            state, note = currency(state, status, ends, now)
            if not matches:
                if unidentified is not None and state == "current":
                    unidentified.append(UnidentifiedMedication(reference_id(resource)))
                continue
            end = max((w for _, w in ends), default=None)
            for class_key, how in matches.items():
                found.append(
                    MedicationUse(
                        class_key=class_key,
                        name=name or knowledge.medication_classes[class_key].display,
                        matched_by=how,
                        reference=reference_id(resource),
                        state=state,
                        status=status or "missing",
                        start=start,
                        end=end,
                        last_known=last,
                        note=note,
                    )
                )
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue
    return tuple(found)


def index_medications(items: Iterable[Entry]) -> dict[str, dict[str, Any]]:
    """Medication resources among these entries, by 'Medication/id' and by fullUrl."""
    index: dict[str, dict[str, Any]] = {}
    for entry in items:
        resource = entry.resource
        if resource.get("resourceType") != "Medication":
            continue
        ident = resource.get("id")
        if isinstance(ident, str):
            index[f"Medication/{ident}"] = resource
        if entry.full_url:
            index[entry.full_url] = resource
    return index


def medication_index(payloads: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Medication resources found anywhere in these prefetch values."""
    return index_medications(entry for payload in payloads for entry in entries(payload))
