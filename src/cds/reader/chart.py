"""The one reading of a call's chart: every prefetch value decoded once, every resource read
once, by the reader for its type, into the typed facts the engine decides on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cds.knowledge import ALL_FAMILIES, Knowledge
from cds.reader.codes import NotThisPatient, SubjectCheck, canonical_system
from cds.reader.conditions import read_conditions
from cds.reader.dates import When, as_utc, parse_when
from cds.reader.facts import Chart, KeyProblem, KeyState, PatientRecord, UnreadableRecord
from cds.reader.fhir import Decoded, Entry, Resource, Unreadable, decode
from cds.reader.medications import RECORD_TYPES, medication_index, read_medications
from cds.reader.orders import read_draft_orders
from cds.reader.pages import next_url
from cds.reader.results import read_results


def entries_of(resource: Resource | None) -> Iterable[Entry]:
    """The resources of one prefetch value: a Bundle's entries, or the resource itself."""
    if resource is None:
        return ()
    if resource.resourceType == "Bundle":
        return resource.entry
    return (Entry(resource=resource),)


def completeness(key: str, resource: Resource | None) -> KeyState | None:
    """Why a prefetched Bundle is only part of the answer, or None when it says it is whole.

    A searchset that carries a `next` link, or a `total` larger than the matches it holds, is
    one page of a longer list: judged like a fetch that could not get every page. A page whose
    results are in newest-first order says how far back it reaches (`oldest`)."""
    if resource is None or resource.resourceType != "Bundle":
        return None
    has_next = next_link(resource) is not None
    total = resource.total
    if not isinstance(total, int) or isinstance(total, bool):
        total = None
    if total is None and not has_next:
        return None  # nothing says it is partial: the entries need not be counted
    # `total` counts matches only; resources brought in by _include are not part of it.
    matches = len(resource.entry) - sum(1 for e in resource.entry if e.search and _included(e))
    if total is not None and total > matches:
        detail = f"the EHR sent {matches} of {total} entries"
    elif has_next:
        detail = f"the EHR sent one page ({matches} entries) and did not follow the next link"
    else:
        return None
    return KeyState(key, KeyProblem.PARTIAL, detail, newest_first_oldest(resource.entry))


def _included(entry: Entry) -> bool:
    return isinstance(entry.search, dict) and entry.search.get("mode") == "include"


def next_link(bundle: Resource) -> str | None:
    return next_url(bundle.link)


def newest_first_oldest(entries: Iterable[Entry]) -> When | None:
    """When the last Observation of a page was taken, if the page is seen to be in newest-first
    order, else None. A FHIR server sorts by `date` (effective[x]); only a result taken at one
    moment (effectiveDateTime or effectiveInstant) shows where it sorts, so a page with any
    other (a period, no date) or with a result newer than the one before it tells nothing."""
    last: When | None = None
    for entry in entries:
        resource = entry.resource
        if resource is None or resource.resourceType != "Observation":
            continue
        when = parse_when(resource.effectiveDateTime) or parse_when(resource.effectiveInstant)
        if when is None or (last is not None and when.instant > last.instant):
            return None
        last = when
    return last


def decode_prefetch(values: Mapping[str, Any]) -> dict[str, Decoded]:
    """Every prefetch value decoded (raw JSON, parsed JSON or already decoded)."""
    return {key: value if isinstance(value, Decoded) else decode(value) for key, value in values.items()}


class _Grouped:
    """All prefetch entries in one pass, grouped by resource type; a resource found in two
    prefetch values counts once. Statements and requests share a group to keep their order."""

    def __init__(self, values: Mapping[str, Decoded], draft_orders: Decoded | None) -> None:
        self.observations: list[Entry] = []
        self.medication_records: list[Entry] = []
        self.medications: list[Entry] = []
        self.conditions: list[Entry] = []
        self.patients: list[Entry] = []
        self.unreadable: list[Unreadable] = []
        groups = {
            "Observation": self.observations,
            "Medication": self.medications,
            "Condition": self.conditions,
            "Patient": self.patients,
            **dict.fromkeys(RECORD_TYPES, self.medication_records),
        }
        seen: set[tuple[str, str]] = set()
        for decoded in values.values():
            self.unreadable.extend(decoded.unreadable)
            for entry in entries_of(decoded.resource):
                resource = entry.resource
                if resource is None:
                    continue
                group = groups.get(resource.resourceType)
                if group is None:
                    continue
                if resource.id is not None:
                    marker = (resource.resourceType, resource.id)
                    if marker in seen:
                        continue
                    seen.add(marker)
                group.append(entry)
        if draft_orders is not None:  # its Patient and Medication resources; its orders are not the chart's
            for entry in entries_of(draft_orders.resource):
                resource = entry.resource
                if resource is not None and resource.resourceType == "Patient":
                    self.patients.append(entry)
                elif resource is not None and resource.resourceType == "Medication":
                    self.medications.append(entry)


def _patient(entries: list[Entry], patient_id: str) -> tuple[PatientRecord | None, frozenset[str]]:
    aliases = set()
    found = None
    for entry in entries:
        resource = entry.resource
        if resource is not None and resource.id == patient_id:
            if found is None:
                deceased = resource.deceasedBoolean is True or bool(
                    resource.deceasedDateTime and resource.deceasedDateTime.strip()
                )
                found = (resource.birthDate, deceased)
            if entry.fullUrl:
                aliases.add(entry.fullUrl)
    if found is None:
        return None, frozenset(aliases)
    return PatientRecord(patient_id, found[0], found[1], frozenset(aliases)), frozenset(aliases)


# The result keys of a caller that names none (engine.assess, the companion app): those of the
# shipped service definitions (hooks/*.json myelin.observationKeys; a test keeps them equal).
DEFAULT_OBSERVATION_KEYS: Mapping[str, str] = {
    "b12Observations": "b12",
    "chemistryObservations": "chemistry",
    "observations": ALL_FAMILIES,
}


def _result_keys(
    observation_keys: Mapping[str, str],
    values: Mapping[str, Decoded],
    states: Mapping[str, KeyState],
    knowledge: Knowledge,
) -> dict[str, frozenset[str]]:
    """The result keys this call sent or found missing, with the analytes each carries; a key
    neither sent nor asked for (a former key, or the current keys it stood in for) is left out."""
    return {
        key: knowledge.analytes_of(family)
        for key, family in observation_keys.items()
        if key in values or key in states
    }


def _key_states(
    values: Mapping[str, Decoded], given: Mapping[str, KeyState], judged: bool
) -> dict[str, KeyState]:
    """The keys missing or partial (`judged`: the prefetch resolver has already judged every
    key's completeness), and values that are not FHIR."""
    states = dict(given)
    for key, decoded in values.items():
        if key in states:
            continue
        if decoded.problem is not None:
            states[key] = KeyState(key, KeyProblem.NOT_FHIR, decoded.problem)
        elif not judged and (partial := completeness(key, decoded.resource)) is not None:
            states[key] = partial
    return states


def _unreadable_records(items: Iterable[Unreadable], subject: SubjectCheck) -> tuple[UnreadableRecord, ...]:
    """Medicines and conditions the decoder could not read that may be this patient's."""
    return tuple(
        UnreadableRecord(
            item.ref,
            item.resource_type,
            item.reason,
            tuple((canonical_system(system), code.strip()) for system, code in item.codes),
            tuple(name.lower() for name in item.names),
        )
        for item in items
        if item.resource_type in (*RECORD_TYPES, "Condition")
        and subject.reference_verdict(item.subject) is not NotThisPatient.OTHER_PATIENT
    )


def read_chart(
    values: Mapping[str, Any],
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    key_states: Mapping[str, KeyState] | None = None,
    draft_orders: Any = None,
    selections: Sequence[str] | None = None,
    *,
    judged: bool = False,
    observation_keys: Mapping[str, str] | None = None,
) -> Chart:
    """The typed facts of one patient's prefetch. `values` by prefetch key (raw or parsed
    JSON, None, or decoded); `key_states`: keys already known to be missing or partial
    (`judged`: every key's completeness was judged with them, by the prefetch resolver).
    Given `draft_orders` (order-select, order-sign), the orders being placed are read too;
    `selections` None judges every one of them. `observation_keys`: which keys carry which
    family of results (a service's `myelin.observationKeys`; DEFAULT_OBSERVATION_KEYS if None)."""
    now = as_utc(now)
    decoded = decode_prefetch(values)
    drafts = None if draft_orders is None else decode_prefetch({"draftOrders": draft_orders})["draftOrders"]
    grouped = _Grouped(decoded, drafts)
    patient, aliases = _patient(grouped.patients, patient_id)
    subject = SubjectCheck(patient_id, aliases)
    reading = read_results(grouped.observations, grouped.unreadable, knowledge, subject, now.date())
    index = medication_index(grouped.medications)
    medications = read_medications(grouped.medication_records, index, knowledge, subject, now)
    orders = None
    if drafts is not None:
        orders = read_draft_orders(drafts, selections, knowledge, subject, index, now)
    states = _key_states(decoded, key_states or {}, judged)
    result_keys = _result_keys(observation_keys or DEFAULT_OBSERVATION_KEYS, decoded, states, knowledge)
    return Chart(
        patient_id=patient_id,
        patient=patient,
        results=reading.results,
        other_results=reading.other,
        set_aside=reading.set_aside,
        medications=medications,
        conditions=read_conditions(grouped.conditions, knowledge, subject, now),
        key_states=states,
        result_keys=result_keys,
        unreadable=_unreadable_records(grouped.unreadable, subject),
        orders=orders,
    )


__all__ = [
    "DEFAULT_OBSERVATION_KEYS",
    "completeness",
    "decode_prefetch",
    "entries_of",
    "newest_first_oldest",
    "next_link",
    "parse_when",
    "read_chart",
]
