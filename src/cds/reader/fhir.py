"""The FHIR R4 elements the guideline reads, as typed records, and their one decoder.

Only the elements some rule or check reads are declared; everything else in a resource is
skipped by the decoder without being built. One record type, `Resource`, holds the elements of
every resource type the service reads (Observation, MedicationStatement, MedicationRequest,
Medication, Condition, Patient, ServiceRequest and the Bundle around them): the names do not
collide, and one type keeps the decoder a single pass.

A prefetch value arrives as raw JSON (from the request body) or as parsed JSON (from the FHIR
server or a test). Either way it is decoded once into these records. A value whose every
element has the declared type decodes in one C-speed pass; otherwise each entry of a Bundle is
decoded on its own, and an entry that does not fit becomes an `Unreadable` naming the element
and what was wrong with it (a list where a string belongs, an object for a status...): the
same answer for every malformed shape, and never a silent drop.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct


class Coding(Struct, frozen=True, gc=False, omit_defaults=True):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(Struct, frozen=True, gc=False, omit_defaults=True):
    coding: tuple[Coding, ...] = ()
    text: str | None = None


class Reference(Struct, frozen=True, gc=False, omit_defaults=True):
    reference: str | None = None
    display: str | None = None


class Quantity(Struct, frozen=True, gc=False, omit_defaults=True):
    value: float | None = None
    comparator: str | None = None
    unit: str | None = None
    system: str | None = None
    code: str | None = None


class Period(Struct, frozen=True, gc=False, omit_defaults=True):
    start: str | None = None
    end: str | None = None


class Duration(Struct, frozen=True, gc=False, omit_defaults=True):
    value: float | None = None
    unit: str | None = None
    code: str | None = None


class ReferenceRange(Struct, frozen=True, gc=False, omit_defaults=True):
    low: Quantity | None = None
    high: Quantity | None = None
    text: str | None = None


class TimingRepeat(Struct, frozen=True, gc=False, omit_defaults=True):
    boundsPeriod: Period | None = None


class Timing(Struct, frozen=True, gc=False, omit_defaults=True):
    repeat: TimingRepeat | None = None


class Dosage(Struct, frozen=True, gc=False, omit_defaults=True):
    timing: Timing | None = None


class DispenseRequest(Struct, frozen=True, gc=False, omit_defaults=True):
    validityPeriod: Period | None = None
    numberOfRepeatsAllowed: int | None = None
    expectedSupplyDuration: Duration | None = None


class Ingredient(Struct, frozen=True, gc=False, omit_defaults=True):
    itemCodeableConcept: CodeableConcept | None = None


class Resource(Struct, frozen=True, gc=False, omit_defaults=True):
    """Any resource the service reads; a Bundle's entries are Resources too."""

    resourceType: str
    id: str | None = None
    status: str | None = None
    code: CodeableConcept | None = None
    subject: Reference | None = None
    patient: Reference | None = None  # the few R4 resources that name their subject so
    # Observation
    effectiveDateTime: str | None = None  # also MedicationStatement
    effectivePeriod: Period | None = None  # also MedicationStatement
    effectiveInstant: str | None = None
    issued: str | None = None
    valueQuantity: Quantity | None = None
    valueString: str | None = None
    valueCodeableConcept: CodeableConcept | None = None
    dataAbsentReason: CodeableConcept | None = None
    referenceRange: tuple[ReferenceRange, ...] = ()
    component: Any = None  # only whether there is one is read
    hasMember: Any = None
    # MedicationStatement, MedicationRequest, Medication
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    contained: tuple[Resource, ...] = ()
    dateAsserted: str | None = None
    dosage: tuple[Dosage, ...] = ()
    authoredOn: str | None = None
    dispenseRequest: DispenseRequest | None = None
    dosageInstruction: tuple[Dosage, ...] = ()
    ingredient: tuple[Ingredient, ...] = ()
    # Condition
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    onsetDateTime: str | None = None
    onsetPeriod: Period | None = None
    recordedDate: str | None = None
    abatementDateTime: Any = None  # any abatement means the condition ended
    abatementPeriod: Any = None
    abatementAge: Any = None
    abatementRange: Any = None
    abatementString: Any = None
    abatementBoolean: Any = None
    # Patient
    birthDate: str | None = None
    deceasedBoolean: bool | None = None
    deceasedDateTime: str | None = None
    # Bundle. Its type and paging elements only tell whether the list is whole: one that is malformed
    # must not cost the entries, so they are read loosely (see cds.reader.chart.completeness).
    type: Any = None
    total: Any = None
    link: Any = None
    entry: tuple[Entry, ...] = ()

    @property
    def ref(self) -> str:
        """'Observation/42', or the type alone when the resource has no id."""
        return f"{self.resourceType}/{self.id}" if self.id else self.resourceType


class Entry(Struct, frozen=True, gc=False, omit_defaults=True):
    fullUrl: str | None = None
    resource: Resource | None = None
    search: Any = None  # only `search.mode` is read, loosely (an _include is not a match)


class Unreadable(Struct, frozen=True, gc=False, omit_defaults=True):
    """A resource the decoder could not read into the types above, and why. What could still
    be made out of it (its codes, its subject) lets the reader tell whose record of which test
    it was, so a card can name it."""

    resource_type: str | None  # as its JSON names it, when it does
    ident: str | None
    reason: str  # "field 'valueQuantity.comparator': expected a string, got a list"
    codes: tuple[tuple[str, str], ...] = ()  # (system, code) pairs of what it is, where readable
    subject: str | None = None  # its subject reference, where readable
    names: tuple[str, ...] = ()  # the names of what it is (a medicine's), where readable
    full_url: str | None = None  # the Bundle entry's fullUrl, where readable

    @property
    def ref(self) -> str:
        kind = self.resource_type or "resource"
        return f"{kind}/{self.ident}" if self.ident else kind


class NotJson(ValueError):
    """Raw bytes that are not JSON at all (or hold a number no float can carry)."""


class Decoded(Struct, frozen=True, gc=False, omit_defaults=True):
    """One prefetch value, decoded: the resource (a Bundle keeps only the entries that could
    be read), the entries that could not, and why nothing could be read at all."""

    resource: Resource | None
    unreadable: tuple[Unreadable, ...] = ()
    problem: str | None = None  # the value as a whole is not a FHIR resource

    def as_json(self) -> Any:
        """The resource as JSON again, holding only the elements the service reads."""
        return msgspec.json.decode(_encoder.encode(self.resource)) if self.resource is not None else None

    @property
    def resource_count(self) -> int:
        """How many resources it holds: a Bundle's entries (read or not), else one or none."""
        if self.resource is not None and self.resource.resourceType == "Bundle":
            return len(self.resource.entry) + len(self.unreadable)
        return 1 if self.resource is not None or self.unreadable else 0


NOTHING_SENT = Decoded(None)  # the EHR's "no such data" (a prefetch value of null)

_resource_decoder = msgspec.json.Decoder(Resource)
_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder()


def decode(value: Any) -> Decoded:
    """A prefetch value (raw JSON bytes or `msgspec.Raw`, parsed JSON, or None) as records.

    Raises NotJson for raw bytes that are not JSON; every other shape decodes."""
    if value is None:
        return NOTHING_SENT
    if isinstance(value, Resource):
        return Decoded(value)
    if isinstance(value, msgspec.Raw | bytes | bytearray | memoryview):
        try:
            return Decoded(_resource_decoder.decode(value))
        except msgspec.ValidationError:
            pass
        except msgspec.DecodeError as error:
            raise NotJson(str(error)) from None
        try:  # the same JSON, parsed loosely, to be read entry by entry
            value = _any_decoder.decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise NotJson(str(error)) from None
        if value is None:
            return NOTHING_SENT
    else:
        try:
            return Decoded(msgspec.convert(value, Resource))
        except msgspec.ValidationError:
            pass
    return _entry_by_entry(value)


def _entry_by_entry(value: Any) -> Decoded:
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return Decoded(None, problem="not a FHIR resource (no resourceType)")
    if value["resourceType"] != "Bundle":
        outcome = _convert(value)
        if isinstance(outcome, Unreadable):
            return Decoded(None, (outcome,), problem=f"{outcome.ref} could not be read: {outcome.reason}")
        return Decoded(outcome)
    raw_entries = value.get("entry", ())
    if raw_entries is None:
        raw_entries = ()
    if not isinstance(raw_entries, list):
        return Decoded(None, problem="a Bundle whose 'entry' is not a list")
    envelope = {key: item for key, item in value.items() if key != "entry"}
    try:
        bundle = msgspec.convert(envelope, Resource)
    except msgspec.ValidationError as error:
        return Decoded(None, problem=f"the Bundle could not be read: {_words(error)}")
    kept: list[Entry] = []
    unreadable: list[Unreadable] = []
    for item in raw_entries:
        try:
            kept.append(msgspec.convert(item, Entry))
        except msgspec.ValidationError as error:
            resource = item.get("resource") if isinstance(item, dict) else None
            found = _unreadable(resource, error)
            full_url = item.get("fullUrl") if isinstance(item, dict) else None
            if isinstance(full_url, str):
                found = msgspec.structs.replace(found, full_url=full_url[:2048])
            unreadable.append(found)
    return Decoded(msgspec.structs.replace(bundle, entry=tuple(kept)), tuple(unreadable))


def _convert(value: dict[str, Any]) -> Resource | Unreadable:
    try:
        return msgspec.convert(value, Resource)
    except msgspec.ValidationError as error:
        return _unreadable(value, error)


def _unreadable(resource: Any, error: msgspec.ValidationError) -> Unreadable:
    if not isinstance(resource, dict):
        return Unreadable(None, None, _words(error))
    kind, ident = resource.get("resourceType"), resource.get("id")
    concept = resource.get("medicationCodeableConcept", resource.get("code"))
    return Unreadable(
        kind if isinstance(kind, str) else None,
        ident[:64] if isinstance(ident, str) else None,
        _words(error),
        _loose_codes(concept),
        _loose_subject(resource),
        _loose_names(concept, resource.get("medicationReference")),
    )


def _loose_codings(concept: Any) -> list[dict[str, Any]]:
    found = concept.get("coding") if isinstance(concept, dict) else None
    return [item for item in found[:20] if isinstance(item, dict)] if isinstance(found, list) else []


def _loose_codes(concept: Any) -> tuple[tuple[str, str], ...]:
    return tuple(
        (system, code)
        for item in _loose_codings(concept)  # a real concept has a handful of codings
        if isinstance(system := item.get("system"), str) and isinstance(code := item.get("code"), str)
    )


def _loose_names(concept: Any, reference: Any) -> tuple[str, ...]:
    found = [concept.get("text") if isinstance(concept, dict) else None]
    found += [item.get("display") for item in _loose_codings(concept)]
    found.append(reference.get("display") if isinstance(reference, dict) else None)
    return tuple(name[:1000] for name in found if isinstance(name, str) and name.strip())


def _loose_subject(resource: dict[str, Any]) -> str | None:
    subject = resource.get("subject", resource.get("patient"))
    reference = subject.get("reference") if isinstance(subject, dict) else None
    return reference if isinstance(reference, str) else None


def _words(error: msgspec.ValidationError) -> str:
    """msgspec's "Expected `str`, got `array` - at `$.resource.status`" in a clinician's
    words: "field 'status': expected text, got a list". Display only: nothing depends on it."""
    message = str(error)
    detail, _, where = message.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    path = path.removeprefix("resource.").removeprefix("resource")
    for raw, shown in _TYPE_WORDS:
        detail = detail.replace(raw, shown)
    detail = detail[:1].lower() + detail[1:]
    return f"field '{path[:80]}': {detail[:120]}" if path else detail[:160]


_TYPE_WORDS = (
    ("`str | null`", "text"),
    ("`float | null`", "a number"),
    ("`int | null`", "a whole number"),
    ("`bool | null`", "true or false"),
    ("`str`", "text"),
    ("`float`", "a number"),
    ("`int`", "a whole number"),
    ("`bool`", "true or false"),
    ("`object | null`", "an object"),
    ("`object`", "an object"),
    ("`array`", "a list"),
    ("`null`", "null"),
)
