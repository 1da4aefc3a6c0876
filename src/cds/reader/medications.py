"""Medicines: MedicationStatements and MedicationRequests as typed records with their classes.

Matching order per class: an RxNorm code (ingredient or mapped product), then an ATC prefix,
then the name. A name that begins with the class's ingredient ("Omeprazole 20 MG Oral
Capsule") is as good as a code the product map lacks; a brand, an alias or words elsewhere in
the text only resemble one, and the card asks the clinician to verify.

A record is "current" (active, intended, on-hold), "past" (completed, stopped) or
"uncertain" (any other status, such as a reconciliation list's `unknown`, or no confirmed
subject). Status and dates must both say current: a record whose own end dates
(effectivePeriod.end, dispenseRequest.validityPeriod.end, the dosage timing bounds) all lie
before "now" is history whatever its status says; when one end date has passed and another has
not, the record is uncertain and `note` says what to confirm. A prescription whose supply and
refills ran out long ago cannot be told current from its status alone: it is uncertain too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from cds.knowledge import Knowledge, MedicationClass, code_fits, name_fits, word_form
from cds.knowledge.doses import CombinationRule
from cds.reader.codes import NotThisPatient, SubjectCheck, codings
from cds.reader.dates import When, has_ended, parse_when
from cds.reader.facts import MatchedBy, MedicationRecord, MedicationState
from cds.reader.fhir import CodeableConcept, Entry, Resource

CURRENT, PAST, UNCERTAIN = MedicationState.CURRENT, MedicationState.PAST, MedicationState.UNCERTAIN
_STATES = {
    "MedicationStatement": {
        "active": CURRENT,
        "intended": CURRENT,
        "on-hold": CURRENT,
        "completed": PAST,
        "stopped": PAST,
    },
    "MedicationRequest": {
        "active": CURRENT,
        "on-hold": CURRENT,
        "completed": PAST,
        "stopped": PAST,
    },
}
RECORD_TYPES = frozenset(_STATES)
_DROPPED = frozenset({"entered-in-error", "cancelled", "not-taken"})
# A prescription still counts for this long after its supply and refills would have run out
# (patients stretch supplies, pharmacies dispense late); after it, it cannot be assumed taken.
SUPPLY_GRACE = timedelta(days=90)
_DURATION_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30,
                  "months": 30, "a": 365, "year": 365, "years": 365}  # fmt: skip


def medication_index(entries: Iterable[Entry]) -> dict[str, Resource]:
    """Medication resources among these entries, by 'Medication/id' and by fullUrl."""
    index: dict[str, Resource] = {}
    for entry in entries:
        resource = entry.resource
        if resource is None or resource.resourceType != "Medication":
            continue
        if resource.id:
            index[f"Medication/{resource.id}"] = resource
        if entry.fullUrl:
            index[entry.fullUrl] = resource
    return index


def _concepts(resource: Resource, medications: Mapping[str, Resource]) -> list[CodeableConcept]:
    """The concepts that describe what was taken, following medicationReference."""
    if resource.medicationCodeableConcept is not None:
        return [resource.medicationCodeableConcept]
    reference = resource.medicationReference
    target = reference.reference if reference is not None else None
    medication: Resource | None = None
    if target and target.startswith("#"):
        medication = next((c for c in resource.contained if c.id == target[1:]), None)
    elif target:
        medication = medications.get(target)
        if medication is None and "/Medication/" in target:  # absolute URL to a bundled Medication
            medication = medications.get("Medication/" + target.rsplit("/Medication/", 1)[1])
    found: list[CodeableConcept] = []
    if medication is not None and medication.resourceType == "Medication":
        if medication.code is not None:
            found.append(medication.code)
        found.extend(i.itemCodeableConcept for i in medication.ingredient if i.itemCodeableConcept)
    if reference is not None and reference.display:
        found.append(CodeableConcept(text=reference.display))
    return found


def _unnamed(codes: tuple[tuple[str, str], ...], classes: tuple, knowledge: Knowledge) -> str:
    """A record with codes but no text or display: named by its class and code, never blank."""
    if not classes:
        return ""
    display = knowledge.medication_classes[classes[0][0]].display
    code = next((c for _system, c in codes), "")
    return f"{display} (code {code})" if code else display


def _name(concepts: list[CodeableConcept]) -> str:
    for concept in concepts:
        if concept.text:
            return concept.text
        for _system, _code, display in codings(concept):
            if display:
                return display
    return ""


def _enough(rule: CombinationRule | None, texts: list[str], key: str, knowledge: Knowledge) -> bool:
    """A name naming this class counts unless it is a combination holding too little of it
    (low-dose B12 or folic acid in a multivitamin); codes were judged when the map was built."""
    if rule is None:
        return True
    naming = [t for t in texts if key in knowledge.medication_names.find(word_form(t))]
    return any(rule.counts(t) for t in naming)


def _named_for(forms: list[str], med_class: MedicationClass) -> bool:
    """The medicine is named for the class (its name begins with one of the class's names, or
    holds an ingredient's own name), not merely mentioned in passing ("Lisinopril/HCTZ")."""
    return any(
        form.startswith(med_class.name_forms) or any(i in form for i in med_class.ingredient_forms)
        for form in forms
    )


def classify(
    concepts: list[CodeableConcept], knowledge: Knowledge
) -> tuple[tuple[tuple[str, MatchedBy], ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """(class key, how it matched) for each class; every (system, code); every name, lower case."""
    rxnorm = knowledge.systems["rxnorm"]
    atc = knowledge.systems["atc"]
    codes: list[tuple[str, str]] = []
    texts: list[str] = []
    for concept in concepts:
        if concept.text and name_fits(concept.text):
            texts.append(concept.text)
        for system, code, display in codings(concept):
            if code_fits(code):  # an over-long code cannot be any terminology's: never looked up
                codes.append((system, code))
            if display and name_fits(display):
                texts.append(display)
    rx_codes = {code for system, code in codes if system in rxnorm}
    atc_codes = [code.upper() for system, code in codes if system in atc]
    forms = [word_form(t) for t in texts]
    named = knowledge.medication_names.find(" ".join(forms)) if texts else set()
    by_code = knowledge.medication_codes
    coded = {key for code in rx_codes for key in by_code.get(code, ())}  # one dict lookup per code
    matches: list[tuple[str, MatchedBy]] = []
    for key, med_class in knowledge.medication_classes.items():
        if key in coded:
            matches.append((key, MatchedBy.RXNORM))
        elif any(code.startswith(med_class.atc_prefixes) for code in atc_codes):
            matches.append((key, MatchedBy.ATC))
        elif key in named and _enough(med_class.combination, texts, key, knowledge):
            matches.append((key, MatchedBy.NAME if _named_for(forms, med_class) else MatchedBy.TEXT))
    return tuple(matches), tuple(codes), tuple(t.lower() for t in texts)


def _dosage_ends(resource: Resource) -> list[tuple[str, When]]:
    dosages = resource.dosageInstruction if resource.resourceType == "MedicationRequest" else resource.dosage
    found = []
    for dosage in dosages:
        repeat = dosage.timing.repeat if dosage.timing is not None else None
        bounds = repeat.boundsPeriod if repeat is not None else None
        end = parse_when(bounds.end) if bounds is not None else None
        if end is not None:
            found.append(("dosage timing ends", end))
    return found


def _supply_ends(resource: Resource, start: When | None) -> When | None:
    """When a prescription's supply and its refills would run out, where it states them."""
    dispense = resource.dispenseRequest
    supply = dispense.expectedSupplyDuration if dispense is not None else None
    if start is None or supply is None or supply.value is None or supply.value <= 0:
        return None
    days = _DURATION_DAYS.get((supply.code or supply.unit or "").strip().lower())
    if days is None:
        return None
    repeats = dispense.numberOfRepeatsAllowed if dispense is not None else None
    fills = 1 + max(repeats or 0, 0)
    try:
        end = start.instant + timedelta(days=min(supply.value * days * fills, 36500.0))
    except OverflowError:
        return None
    return When(end, end.date(), end.date().isoformat())


def _dates(resource: Resource) -> tuple[When | None, list[tuple[str, When]], When | None]:
    """Start, every end date the record states (with what states it), latest date mentioned."""
    ends: list[tuple[str, When]] = []
    if resource.resourceType == "MedicationStatement":
        period = resource.effectivePeriod
        start_candidates = (
            period.start if period else None,
            resource.effectiveDateTime,
            resource.dateAsserted,
        )
        end = parse_when(period.end) if period else None
        if end is not None:
            ends.append(("effective period ends", end))
    else:
        validity = resource.dispenseRequest.validityPeriod if resource.dispenseRequest else None
        start_candidates = (resource.authoredOn, validity.start if validity else None)
        end = parse_when(validity.end) if validity else None
        if end is not None:
            ends.append(("prescription valid until", end))
    ends.extend(_dosage_ends(resource))
    parsed = [w for w in (parse_when(c) for c in start_candidates) if w is not None]
    start = parsed[0] if parsed else None
    known = [*parsed, *(w for _, w in ends)]
    last = max(known) if known else None
    return start, ends, last


def currency(
    state: MedicationState, status: str, ends: list[tuple[str, When]], now: datetime
) -> tuple[MedicationState, str | None]:
    """The record's state once its end dates are heard, and a note when they changed it."""
    if state is not CURRENT or not ends:
        return state, None
    ended = [(what, w) for what, w in ends if has_ended(w, now)]
    if not ended:
        return state, None
    if len(ended) == len(ends):
        latest = max(w for _, w in ended)
        return PAST, f"recorded until {latest.day.isoformat()} (status '{status}', but ended)"
    what, gone = ended[0]
    open_what, runs = next((x, w) for x, w in ends if not has_ended(w, now))
    return UNCERTAIN, (
        f"status '{status}' but {what} {gone.day.isoformat()} while {open_what} "
        f"{runs.day.isoformat()}: confirm whether it is still taken"
    )


def _supply_currency(
    state: MedicationState, supply_ends: When | None, start: When | None, now: datetime
) -> tuple[MedicationState, str | None]:
    if state is not CURRENT or supply_ends is None or start is None:
        return state, None
    if supply_ends.instant + SUPPLY_GRACE >= now:
        return state, None
    return UNCERTAIN, (
        f"prescribed {start.day.isoformat()} with supply and refills to about "
        f"{supply_ends.day.isoformat()}: confirm whether it is still taken"
    )


def read_medication(
    resource: Resource,
    medications: Mapping[str, Resource],
    knowledge: Knowledge,
    subject: SubjectCheck,
    now: datetime,
    ordered: bool = False,
) -> MedicationRecord | None:
    """One MedicationStatement or MedicationRequest of this patient (None: dropped status or
    another patient's). `ordered`: a draft order being placed now, whatever its dates."""
    status = resource.status or ""
    if status in _DROPPED:
        return None
    verdict = subject.verdict(resource)
    if verdict is NotThisPatient.OTHER_PATIENT:
        return None
    concepts = _concepts(resource, medications)
    classes, codes, names = classify(concepts, knowledge)
    start, ends, last = _dates(resource)
    supply_ends = _supply_ends(resource, start) if resource.resourceType == "MedicationRequest" else None
    if ordered:
        state, note = MedicationState.ORDERED, None
    else:
        state = _STATES[resource.resourceType].get(status, UNCERTAIN) if verdict is None else UNCERTAIN
        state, note = currency(state, status or "missing", ends, now)
        if note is None:
            state, note = _supply_currency(state, supply_ends, start, now)
    return MedicationRecord(
        reference=resource.ref,
        resource_type=resource.resourceType,
        status=status or "missing",
        state=state,
        name=_name(concepts) or _unnamed(codes, classes, knowledge),
        classes=classes,
        codes=codes,
        names=names,
        start=start,
        end=max((w for _, w in ends), default=None),
        last_known=last,
        note=note,
        supply_ends=supply_ends,
    )


def read_medications(
    entries: Iterable[Entry],
    medications: Mapping[str, Resource],
    knowledge: Knowledge,
    subject: SubjectCheck,
    now: datetime,
) -> tuple[MedicationRecord, ...]:
    """Every medication record of this patient among these entries (dropped statuses excluded)."""
    found = []
    for entry in entries:
        resource = entry.resource
        if resource is None or resource.resourceType not in RECORD_TYPES:
            continue
        record = read_medication(resource, medications, knowledge, subject, now)
        if record is not None:
            found.append(record)
    return tuple(found)
