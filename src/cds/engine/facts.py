"""PatientFacts: everything the rules need, normalised once from the raw prefetch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cds.engine.conditions import ConditionMatch, read_conditions
from cds.engine.conflicts import settled_lab_results
from cds.engine.dates import age_range, as_utc, months_before
from cds.engine.fhirjson import Entry, SubjectCheck, entries
from cds.engine.labs import LabResult, SetAside
from cds.engine.medications import (
    MedicationUse,
    UnidentifiedMedication,
    index_medications,
    read_medications,
)
from cds.knowledge import Knowledge

PREFETCH_KEYS = ("patient", "observations", "medicationStatements", "medicationRequests", "conditions")
MEDICATION_KEYS = ("medicationStatements", "medicationRequests")
# How a partial list is named in `unavailable` (cds.fhir.prefetch.incomplete_reason).
INCOMPLETE_PREFIX = "incomplete: "


@dataclass(frozen=True)
class PatientFacts:
    patient_id: str
    now: datetime
    today: date
    window_start: date  # results dated before this day are stale
    age: int | None
    labs: Mapping[str, tuple[LabResult, ...]]  # newest first
    set_aside: tuple[SetAside, ...]
    medications: tuple[MedicationUse, ...]
    conditions: tuple[ConditionMatch, ...]
    unavailable: Mapping[str, str] = field(default_factory=dict)
    # current medication records with no known code and no name: nobody can tell what they are
    unidentified_medications: tuple[UnidentifiedMedication, ...] = ()
    deceased: bool = False  # the chart says the patient has died: no advice at all
    # LOINCs with a usable result in the window (LabReading.recent_loincs), for the cards' check
    recent_loincs: frozenset[str] = frozenset()
    # a partial birth date leaves the age open: `age` is the youngest (the one rules use),
    # `oldest_age` the oldest the patient can be
    oldest_age: int | None = None

    @property
    def age_words(self) -> str:
        """The age as a card shows it: "17", or "17 or 18" when the birth date is partial."""
        if self.age is None:
            return "unknown"
        if self.oldest_age is None or self.oldest_age == self.age:
            return str(self.age)
        return f"{self.age} or {self.oldest_age}"

    def latest(self, analyte: str) -> LabResult | None:
        results = self.labs.get(analyte)
        return results[0] if results else None

    def is_recent(self, result: LabResult) -> bool:
        return result.when.day >= self.window_start

    def recent(self, analyte: str) -> LabResult | None:
        result = self.latest(analyte)
        return result if result is not None and self.is_recent(result) else None

    def recent_results(self, analyte: str) -> tuple[LabResult, ...]:
        return tuple(r for r in self.labs.get(analyte, ()) if self.is_recent(r))

    def meds(self, class_key: str, state: str = "current") -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.medications if m.class_key == class_key and m.state == state)

    def conditions_in(self, value_set: str) -> tuple[ConditionMatch, ...]:
        return tuple(c for c in self.conditions if c.value_set == value_set)

    @property
    def medications_unavailable(self) -> bool:
        return any(key in self.unavailable for key in MEDICATION_KEYS)

    @property
    def medication_list_state(self) -> str:
        """How the medication list falls short, in the words a card uses: "incomplete (...)"
        with how many of how many when every missing part is a partial list, else "unavailable"."""
        reasons = [(key, str(self.unavailable[key])) for key in MEDICATION_KEYS if key in self.unavailable]
        if reasons and all(why.startswith(INCOMPLETE_PREFIX) for _key, why in reasons):
            parts = "; ".join(f"{key}: {why.removeprefix(INCOMPLETE_PREFIX)}" for key, why in reasons)
            return f"incomplete ({parts})"
        return "unavailable"


_MEDICATION_RECORDS = frozenset({"MedicationStatement", "MedicationRequest"})


def _by_type(resources: Mapping[str, Any]) -> dict[str, list[Entry]]:
    """All prefetch entries in one pass, grouped by resourceType; a resource found in two
    prefetch results counts once. Statements and requests share "Medication*" so their
    prefetch order is kept."""
    seen: set[tuple[str, str]] = set()
    groups: dict[str, list[Entry]] = {}
    for key in PREFETCH_KEYS:
        for entry in entries(resources.get(key)):
            resource = entry.resource
            kind, ident = resource["resourceType"], resource.get("id")
            if isinstance(ident, str):
                if (kind, ident) in seen:
                    continue
                seen.add((kind, ident))
            group = "Medication*" if kind in _MEDICATION_RECORDS else kind
            found = groups.get(group)
            if found is None:
                groups[group] = [entry]
            else:
                found.append(entry)
    return groups


def _patient(items: list[Entry], patient_id: str) -> tuple[dict[str, Any] | None, frozenset[str]]:
    aliases = set()
    patient = None
    for entry in items:
        resource = entry.resource
        if resource.get("resourceType") == "Patient" and resource.get("id") == patient_id:
            patient = patient or resource
            if entry.full_url:
                aliases.add(entry.full_url)
    return patient, frozenset(aliases)


def build_facts(
    resources: Mapping[str, Any],
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    unavailable: Mapping[str, str] | None = None,
) -> PatientFacts:
    now = as_utc(now)
    today = now.date()
    source = resources if isinstance(resources, Mapping) else {}
    groups = _by_type(source)  # one pass; each reader then sees only its type
    patient, aliases = _patient(groups.get("Patient", []), patient_id)
    subject = SubjectCheck(patient_id, aliases)
    window_start = months_before(now, knowledge.recent_months)
    labs, set_aside, recent_loincs = settled_lab_results(
        groups.get("Observation", []), knowledge, subject, today, window_start
    )
    unidentified: list[UnidentifiedMedication] = []
    medications = read_medications(
        groups.get("Medication*", []),
        index_medications(groups.get("Medication", [])),
        knowledge,
        subject,
        now=now,
        unidentified=unidentified,
    )
    conditions = read_conditions(groups.get("Condition", []), knowledge, subject, now)
    ages = age_range(patient.get("birthDate"), today) if patient is not None else None
    return PatientFacts(
        patient_id=patient_id,
        now=now,
        today=today,
        window_start=window_start,
        age=ages[0] if ages is not None else None,
        oldest_age=ages[1] if ages is not None else None,
        labs=labs,
        set_aside=set_aside,
        medications=medications,
        conditions=conditions,
        unavailable=dict(unavailable or {}),
        unidentified_medications=tuple(unidentified),
        deceased=patient is not None and is_deceased(patient),
        recent_loincs=recent_loincs,
    )


def is_deceased(patient: Mapping[str, Any]) -> bool:
    """deceasedBoolean true, or any deceasedDateTime (a chart can be opened after death)."""
    if patient.get("deceasedBoolean") is True:
        return True
    return isinstance(patient.get("deceasedDateTime"), str) and bool(patient["deceasedDateTime"].strip())
