"""Defensive reading of raw FHIR JSON: any value may be missing or of the wrong type."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple


def obj(value: Any, key: str) -> dict[str, Any]:
    """The dict at `key`, or an empty dict when absent or not a dict."""
    if isinstance(value, dict):
        found = value.get(key)
        if isinstance(found, dict):
            return found
    return {}


def arr(value: Any, key: str) -> list[Any]:
    if isinstance(value, dict):
        found = value.get(key)
        if isinstance(found, list):
            return found
    return []


def text(value: Any, key: str) -> str | None:
    if isinstance(value, dict):
        found = value.get(key)
        if isinstance(found, str):
            return found
    return None


def number(value: Any) -> float | None:
    """A finite float from a JSON number; booleans, strings and NaN/inf are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


# Other spellings of the code systems the engine reads, as EHRs send them: the HL7 OIDs
# (systems converted from CDA documents keep them) and a trailing slash. Each maps to the
# canonical FHIR URI (HL7 terminology registry).
_SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "urn:oid:2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
}
_SNOMED = "http://snomed.info/sct"


def canonical_system(system: str) -> str:
    """The canonical URI of a code system spelling: OID, trailing slash or SNOMED CT edition
    path ("http://snomed.info/sct/731000124108") all name the same system."""
    system = system.strip()
    if system.endswith("/"):
        system = system.rstrip("/")
    if system.startswith(_SNOMED + "/"):
        return _SNOMED
    return _SYSTEM_ALIASES.get(system, system)


def codings(concept: Any) -> Iterator[tuple[str, str, str | None]]:
    """(system, code, display) of each well-formed coding of a CodeableConcept; the system in
    its canonical spelling."""
    for coding in arr(concept, "coding"):
        system = text(coding, "system")
        code = text(coding, "code")
        if system is not None and code is not None:
            yield canonical_system(system), code.strip(), text(coding, "display")


def status_codes(concept: Any) -> set[str]:
    """Codes of a status CodeableConcept (Condition.clinicalStatus and verificationStatus)."""
    return {code for coding in arr(concept, "coding") if (code := text(coding, "code")) is not None}


def reference_id(ref: Any) -> str:
    """'Observation/42' for a resource, '' when it has no usable type and id."""
    kind = text(ref, "resourceType")
    ident = text(ref, "id")
    if kind and ident:
        return f"{kind}/{ident}"
    return kind or "resource"


class Entry(NamedTuple):  # a tuple: built once per resource on every call, so kept cheap
    resource: dict[str, Any]
    full_url: str | None


# Entry(...) goes through a generated Python __new__; building the tuple directly skips that
# frame for each of the hundreds of entries a call reads (same object, same fields).
_new_tuple = tuple.__new__


def entries(payload: Any) -> Iterator[Entry]:
    """The resources of one prefetch value: a single resource or the entries of a Bundle."""
    if not isinstance(payload, dict):
        return
    if payload.get("resourceType") == "Bundle":
        for item in arr(payload, "entry"):
            resource = item.get("resource") if isinstance(item, dict) else None
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                full_url = item.get("fullUrl")
                yield _new_tuple(Entry, (resource, full_url if isinstance(full_url, str) else None))
    elif isinstance(payload.get("resourceType"), str):
        yield Entry(payload, None)


@dataclass(frozen=True)
class SubjectCheck:
    """Decides whether a resource's subject is the patient in context."""

    patient_id: str
    aliases: frozenset[str]  # fullUrls of the context Patient (for urn:uuid references)
    local: str = field(init=False)  # "Patient/<id>", the usual reference, built once

    def __post_init__(self) -> None:
        object.__setattr__(self, "local", f"Patient/{self.patient_id}")

    def verdict(self, resource: Mapping[str, Any]) -> str | None:
        """None when the subject is this patient; otherwise why the resource is not used."""
        subject = resource.get("subject")
        if subject is None:
            subject = resource.get("patient")  # a few R4 resources name it `patient`
        if not isinstance(subject, dict):
            return "no subject" if subject is None else "subject is not a reference"
        ref = subject.get("reference")
        if not isinstance(ref, str) or not ref:
            return "subject has no reference"
        if ref == self.local or ref in self.aliases:  # the usual case first, without a split
            return None
        path = ref.split("/_history/", 1)[0]
        local = self.local
        if path == local or (path.startswith(("http://", "https://")) and path.endswith("/" + local)):
            return None
        return "subject is another patient"
