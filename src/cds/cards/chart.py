"""What the chart already holds, for a defensive check on suggestions.

The engine decides which tests and treatments to offer; this second, independent look at
the prefetch makes sure no card repeats a test with a recent result or starts a drug the
patient already takes, even if a rule has a bug.

Medicines are read as EHRs send them: a code, a name or both, inline or through a Medication
resource (contained, or elsewhere in the prefetch). RxNorm product codes are looked up in
the knowledge's product map, one dictionary lookup per code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.engine.conflicts import settled_lab_results
from cds.engine.dates import as_utc, has_ended, months_before, parse_when
from cds.engine.fhirjson import SubjectCheck, entries, text
from cds.knowledge import Knowledge, code_fits

_ACTIVE_REQUEST = {"active", "on-hold", "draft"}
_ACTIVE_STATEMENT = {"active", "intended", "on-hold", "unknown"}


@dataclass(frozen=True)
class ChartFacts:
    recent_loincs: frozenset[str] = frozenset()
    medication_codes: frozenset[str] = frozenset()  # "system|code" of active medicines
    medication_texts: tuple[str, ...] = ()  # lower-cased names of active medicines
    medication_classes: frozenset[str] = frozenset()  # knowledge classes of their RxNorm codes


def resources_of(value: Any, resource_type: str) -> Iterator[dict[str, Any]]:
    """Resources of one type from a prefetch value (Bundle, single resource or None), read
    with the engine's own defensive reader, so any shape of Bundle is read the same way."""
    for entry in entries(value):
        if entry.resource.get("resourceType") == resource_type:
            yield entry.resource


def _belongs_to(resource: Mapping[str, Any], patient_id: str) -> bool:
    subject = resource.get("subject")
    if not isinstance(subject, dict) or "reference" not in subject:
        return True  # the prefetch query was scoped to the patient; counting it errs towards silence
    reference = str(subject["reference"])
    return reference == f"Patient/{patient_id}" or reference.endswith(f"/Patient/{patient_id}")


def _patient_aliases(data: Mapping[str, Any], patient_id: str) -> frozenset[str]:
    """fullUrls under which the context Patient appears (urn:uuid subjects), as the engine reads them."""
    return frozenset(
        entry.full_url
        for value in data.values()
        for entry in entries(value)
        if entry.full_url
        and entry.resource.get("resourceType") == "Patient"
        and entry.resource.get("id") == patient_id
    )


def _all_codings(concept: Any) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        codings = concept.get("coding")
        for coding in codings if isinstance(codings, list) else ():
            if isinstance(coding, dict):
                yield coding


def _codings(concept: Any) -> Iterator[dict[str, Any]]:
    """Codings whose code can be looked up: a string no longer than any real code."""
    for coding in _all_codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and code_fits(code):
            yield coding


def _names(concept: Any) -> Iterator[str]:
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str):
            yield concept["text"].lower()
        for coding in _all_codings(concept):
            if isinstance(coding.get("display"), str):
                yield coding["display"].lower()


def _end_dates(med: Mapping[str, Any]) -> Iterator[Any]:
    # Malformed containers raise here on purpose: _all_ended then counts the record as open.
    yield (med.get("effectivePeriod") or {}).get("end")
    yield (((med.get("dispenseRequest") or {}).get("validityPeriod")) or {}).get("end")
    for dosage in (med.get("dosage") or []) + (med.get("dosageInstruction") or []):
        if isinstance(dosage, dict):
            yield ((((dosage.get("timing") or {}).get("repeat")) or {}).get("boundsPeriod") or {}).get("end")


def _all_ended(med: Mapping[str, Any], now: datetime) -> bool:
    """Every stated end has passed (an unreadable one counts as still open): a date alone runs
    to the end of that day, a dateTime ends at its instant, as the engine reads them."""
    try:
        ends = [raw for raw in _end_dates(med) if raw is not None]
    except (AttributeError, TypeError):
        return False
    if not ends:
        return False
    for raw in ends:
        end = parse_when(raw)
        if end is None or len(raw) < 10 or not has_ended(end, now):
            return False
    return True


def _bundled_medications(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Medication resources anywhere in the prefetch, by "Medication/id" and by fullUrl."""
    found: dict[str, dict[str, Any]] = {}
    for value in data.values():
        for entry in entries(value):
            if entry.resource.get("resourceType") != "Medication":
                continue
            if isinstance(entry.resource.get("id"), str):
                found["Medication/" + entry.resource["id"]] = entry.resource
            if entry.full_url:
                found[entry.full_url] = entry.resource
    return found


class _Bundled:
    """_bundled_medications, read from the prefetch only when a record first points outside
    itself: most charts name their medicines inline, and this pass walks every resource."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._found: dict[str, dict[str, Any]] | None = None

    def get(self, key: str) -> dict[str, Any] | None:
        if self._found is None:
            self._found = _bundled_medications(self._data)
        return self._found.get(key)


def _referenced(med: Mapping[str, Any], bundled: _Bundled) -> list[Any]:
    """The code and ingredient concepts of the Medication a record points at, if it can be found."""
    reference = med.get("medicationReference")
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str) or not target:
        return []
    medication: Any = None
    if target.startswith("#"):
        contained = med.get("contained")
        for item in contained if isinstance(contained, list) else ():
            if isinstance(item, dict) and item.get("id") == target[1:]:
                medication = item
                break
    else:
        medication = bundled.get(target)
        if medication is None and "/Medication/" in target:  # an absolute URL
            medication = bundled.get("Medication/" + target.rsplit("/Medication/", 1)[1])
    if not isinstance(medication, dict) or medication.get("resourceType") != "Medication":
        return []
    ingredients = medication.get("ingredient")
    items = ingredients if isinstance(ingredients, list) else []
    return [medication.get("code"), *(i.get("itemCodeableConcept") for i in items if isinstance(i, dict))]


def chart_facts(
    data: Mapping[str, Any],
    patient_id: str,
    now: datetime,
    knowledge: Knowledge,
    recent_loincs: frozenset[str] | None = None,
) -> ChartFacts:
    """Recent results by the engine's own definition of a usable, recent result (this
    patient, a status that counts, a readable and plausible value, not in the future, inside
    the window), so a retest the rules ask for is never dropped here as "already done".
    `recent_loincs` is that set as the engine's own reading of the chart found it (the
    assessment's facts, conflicting results already left out), so the results are not read a
    second time; without it they are."""
    if recent_loincs is None:
        subject = SubjectCheck(patient_id, _patient_aliases(data, patient_id))
        today, window_start = as_utc(now).date(), months_before(now, knowledge.recent_months)
        observations = entries(data.get("observations"))
        reading = settled_lab_results(observations, knowledge, subject, today, window_start)
        recent_loincs = reading.recent_loincs

    codes: set[str] = set()
    texts: list[str] = []
    classes: set[str] = set()
    rxnorm = knowledge.systems["rxnorm"]
    by_code = knowledge.medication_codes
    bundled = _Bundled(data)
    for key, kind, active in (
        ("medicationRequests", "MedicationRequest", _ACTIVE_REQUEST),
        ("medicationStatements", "MedicationStatement", _ACTIVE_STATEMENT),
    ):
        for med in resources_of(data.get(key), kind):
            if text(med, "status") not in active or not _belongs_to(med, patient_id):
                continue
            if _all_ended(med, as_utc(now)):
                continue  # an "active" record whose own dates have all passed is history
            for concept in (med.get("medicationCodeableConcept"), *_referenced(med, bundled)):
                for coding in _codings(concept):
                    system = coding.get("system") if isinstance(coding.get("system"), str) else ""
                    codes.add(f"{system}|{coding['code']}")
                    if system in rxnorm:
                        classes.update(by_code.get(coding["code"], ()))
                texts.extend(_names(concept))
            reference = med.get("medicationReference")
            if isinstance(reference, dict) and isinstance(reference.get("display"), str):
                texts.append(reference["display"].lower())
    return ChartFacts(recent_loincs, frozenset(codes), tuple(texts), frozenset(classes))


def takes_any(facts: ChartFacts, guard: Mapping[str, Any]) -> bool:
    """Whether an active medicine matches a treatments.json `alreadyTaking` guard: a class
    its RxNorm code maps to, an ATC prefix, an RxNorm code or a name pattern."""
    if facts.medication_classes.intersection(guard.get("classes", ())):
        return True
    for entry in facts.medication_codes:
        system, _, code = entry.partition("|")
        if "atc" in system.lower() and any(code.startswith(p) for p in guard.get("atcPrefixes", ())):
            return True
        if "rxnorm" in system.lower() and code in guard.get("rxnorm", ()):
            return True
    patterns = [p.lower() for p in guard.get("textPatterns", ())]
    return any(p in text for text in facts.medication_texts for p in patterns)
