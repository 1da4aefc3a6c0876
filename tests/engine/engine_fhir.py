"""Small FHIR R4 JSON builders for the engine tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from cds.engine import Assessment, assess
from cds.knowledge import load_knowledge

PID = "p1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
KNOWLEDGE = load_knowledge()
_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def obs(
    loinc: str,
    value: Any,
    unit: str | None,
    date: str = "2026-10-20",
    *,
    comparator: str | None = None,
    status: str = "final",
    subject: Any = "default",
    code: str | None = None,
    ident: str | None = None,
) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity["unit"] = unit
    if code is not None:
        quantity["system"] = "http://unitsofmeasure.org"
        quantity["code"] = code
    if comparator is not None:
        quantity["comparator"] = comparator
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ident or _id("o"),
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": date,
        "valueQuantity": quantity,
    }
    if subject == "default":
        resource["subject"] = {"reference": f"Patient/{PID}"}
    elif subject is not None:
        resource["subject"] = subject
    return resource


def med(
    kind: str = "MedicationRequest",
    *,
    rxnorm: str | None = None,
    atc: str | None = None,
    text: str | None = None,
    status: str = "active",
    start: str | None = "2025-01-01",
    end: str | None = None,
    reference: str | None = None,
    contained: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": _id("m"),
        "status": status,
        "subject": {"reference": f"Patient/{PID}"},
    }
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    if reference is not None:
        resource["medicationReference"] = {"reference": reference}
    else:
        concept: dict[str, Any] = {"coding": []}
        if rxnorm:
            concept["coding"].append({"system": RXNORM, "code": rxnorm})
        if atc:
            concept["coding"].append({"system": ATC, "code": atc})
        if text:
            concept["text"] = text
        resource["medicationCodeableConcept"] = concept
    if contained is not None:
        resource["contained"] = contained
    if kind == "MedicationRequest":
        if start:
            resource["authoredOn"] = start
        if end:
            resource["dispenseRequest"] = {"validityPeriod": {"end": end}}
    else:
        period = {k: v for k, v in (("start", start), ("end", end)) if v}
        if period:
            resource["effectivePeriod"] = period
    return resource


def cond(
    code: str,
    system: str = ICD10,
    *,
    clinical: str | None = "active",
    verification: str | None = None,
    subject: str = PID,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": _id("c"),
        "subject": {"reference": f"Patient/{subject}"},
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"code": verification}]}
    return resource


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def chart(
    observations: list[dict[str, Any]] = (),  # type: ignore[assignment]
    meds: list[dict[str, Any]] = (),  # type: ignore[assignment]
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    birth_date: str = "1970-06-15",
    statements: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PID, "birthDate": birth_date},
        "observations": bundle(*observations),
        "medicationStatements": bundle(*statements),
        "medicationRequests": bundle(*meds),
        "conditions": bundle(*conditions),
    }


def run(resources: dict[str, Any], knowledge=KNOWLEDGE, unavailable=None, now=NOW) -> Assessment:
    return assess(resources, PID, now, knowledge, unavailable)


def topics(assessment: Assessment) -> list[str]:
    return [str(f.topic) for f in assessment.findings]


def finding(assessment: Assessment, topic: str):
    return next((f for f in assessment.findings if f.topic == topic), None)


# Complete, normal twitching work-up (so twitching tests can isolate one rule).
def normal_workup(date: str = "2026-10-20") -> list[dict[str, Any]]:
    return [
        obs("2132-9", 500, "pg/mL", date),
        obs("2601-3", 0.85, "mmol/L", date),
        obs("2000-8", 2.35, "mmol/L", date),
        obs("1751-7", 42, "g/L", date),
        obs("2823-3", 4.2, "mmol/L", date),
        obs("2951-2", 140, "mmol/L", date),
    ]


def product_chart(shape: str, code: str | None, name: str | None = None) -> dict[str, Any]:
    """A chart with one medication order for an RxNorm product `code` and/or its `name`, the
    product carried `inline` (medicationCodeableConcept), `contained` in the order, or
    `referenced` as a Medication resource beside it in the bundle."""
    concept: dict[str, Any] = {"coding": [{"system": RXNORM, "code": code}] if code else []}
    if name:
        concept["text"] = name
    record = med(rxnorm="1")
    extra: list[dict[str, Any]] = []
    if shape == "inline":
        record["medicationCodeableConcept"] = concept
    else:
        del record["medicationCodeableConcept"]
        medication = {"resourceType": "Medication", "id": "prod", "code": concept}
        if shape == "contained":
            record["contained"] = [medication]
            record["medicationReference"] = {"reference": "#prod"}
        else:
            record["medicationReference"] = {"reference": "Medication/prod"}
            extra.append(medication)
    resources = chart(meds=[record])
    resources["medicationRequests"]["entry"].extend({"resource": r} for r in extra)
    return resources
