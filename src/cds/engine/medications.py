"""Medications: classify MedicationStatements and MedicationRequests into knowledge classes.

Matching order per class: RxNorm code, then ATC prefix, then whole-word text as a last
resort. A medication is "current" (active, intended, on-hold), "past" (completed,
stopped) or "uncertain" (any other status, or no subject): uncertain records never
trigger a finding, but an uncertain B12 record stops us from offering B12 treatment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cds.engine.dates import When, parse_when
from cds.engine.fhirjson import Entry, SubjectCheck, arr, codings, entries, obj, reference_id, text
from cds.knowledge import Knowledge, code_fits, name_fits, word_form

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
    for key, med_class in knowledge.medication_classes.items():
        if rx_codes & med_class.rxcuis:
            matches[key] = "rxnorm"
        elif any(code.startswith(med_class.atc_prefixes) for code in atc_codes):
            matches[key] = "atc"
        elif key in named:
            matches[key] = "text"
    return matches


def _dates(resource: dict[str, Any]) -> tuple[When | None, When | None, When | None]:
    if resource.get("resourceType") == "MedicationStatement":
        period = obj(resource, "effectivePeriod")
        start_candidates = (
            period.get("start"),
            resource.get("effectiveDateTime"),
            resource.get("dateAsserted"),
        )
        end_raw = period.get("end")
    else:
        validity = obj(obj(resource, "dispenseRequest"), "validityPeriod")
        start_candidates = (resource.get("authoredOn"), validity.get("start"))
        end_raw = validity.get("end")
    parsed = [w for w in (parse_when(c) for c in start_candidates) if w is not None]
    start = parsed[0] if parsed else None
    end = parse_when(end_raw)
    known = [w for w in (*parsed, end) if w is not None]
    last = max(known) if known else None
    return start, end, last


def read_medications(
    items: Iterable[Entry],
    medications: Mapping[str, dict[str, Any]],
    knowledge: Knowledge,
    subject: SubjectCheck,
) -> tuple[MedicationUse, ...]:
    """Every classified medication record of this patient (dropped statuses excluded)."""
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
            if not matches:
                continue
            state = _STATES[kind].get(status, "uncertain") if verdict is None else "uncertain"
            start, end, last = _dates(resource)
            name = _name(concepts)
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
