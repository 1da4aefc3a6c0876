"""Code systems as EHRs spell them, concepts as (system, code) pairs, and whose record it is."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from cds.reader.fhir import CodeableConcept, Reference, Resource

# Other spellings of the code systems the service reads, as EHRs send them: the HL7 OIDs
# (systems converted from CDA documents keep them) and a trailing slash. Each maps to the
# canonical FHIR URI (HL7 terminology registry).
_SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.1": "http://loinc.org",
    "urn:oid:2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "urn:oid:2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "urn:oid:2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "urn:oid:2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
}
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def canonical_system(system: str) -> str:
    """The canonical URI of a code system spelling: OID, trailing slash or SNOMED CT edition
    path ("http://snomed.info/sct/731000124108") all name the same system."""
    system = system.strip()
    if system.endswith("/"):
        system = system.rstrip("/")
    if system.startswith(SNOMED + "/"):
        return SNOMED
    known = _SYSTEM_ALIASES.get(system)
    if known is not None:
        return known
    return ICD10 if _local_icd10(system) else system


ICD10 = "http://hl7.org/fhir/sid/icd-10"


def _local_icd10(system: str) -> bool:
    """A site's own URI for ICD-10 diagnoses ("https://ehr.example.org/codes/ICD-10-CM",
    "urn:hospital:icd10"): read as ICD-10, so a coded diagnosis is matched by its code rather
    than by name. The procedure classification (ICD-10-PCS) is a different system."""
    if "icd" not in system.lower():
        return False
    squeezed = system.lower().replace("-", "").replace("_", "").replace(".", "")
    return "icd10" in squeezed and "icd10pcs" not in squeezed and not system.startswith("http://hl7.org/")


def codings(concept: CodeableConcept | None) -> Iterator[tuple[str, str, str | None]]:
    """(system, code, display) of each coding that has a system and a code; the system in its
    canonical spelling, the code without surrounding spaces."""
    if concept is None:
        return
    for coding in concept.coding:
        if coding.system is not None and coding.code is not None:
            yield canonical_system(coding.system), coding.code.strip(), coding.display


def status_codes(concept: CodeableConcept | None) -> set[str]:
    """Codes of a status CodeableConcept (Condition.clinicalStatus and verificationStatus)."""
    if concept is None:
        return set()
    return {coding.code for coding in concept.coding if coding.code is not None}


class NotThisPatient(StrEnum):
    """Why a record cannot be taken as the context patient's."""

    NO_SUBJECT = "no subject"
    NO_REFERENCE = "subject has no reference"
    OTHER_PATIENT = "subject is another patient"


class SubjectCheck:
    """Decides whether a resource's subject is the patient in context."""

    __slots__ = ("aliases", "local", "patient_id")

    def __init__(self, patient_id: str, aliases: frozenset[str] = frozenset()) -> None:
        self.patient_id = patient_id
        self.aliases = aliases  # fullUrls of the context Patient (for urn:uuid references)
        self.local = f"Patient/{patient_id}"  # the usual reference, built once

    def verdict(self, resource: Resource) -> NotThisPatient | None:
        """None when the subject is this patient; otherwise why the resource is not used."""
        subject: Reference | None = resource.subject or resource.patient
        if subject is None:
            return NotThisPatient.NO_SUBJECT
        return self.reference_verdict(subject.reference)

    def reference_verdict(self, ref: str | None) -> NotThisPatient | None:
        """`verdict` for a subject reference already in hand."""
        if not ref:
            return NotThisPatient.NO_REFERENCE
        if ref == self.local or ref in self.aliases:  # the usual case first, without a split
            return None
        path = ref.split("/_history/", 1)[0]
        local = self.local
        if path == local or (path.startswith(("http://", "https://")) and path.endswith("/" + local)):
            return None
        return NotThisPatient.OTHER_PATIENT
