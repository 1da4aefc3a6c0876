"""Synthetic patient-view requests of a chosen size for the benchmark (deterministic)."""

from __future__ import annotations

import random
import uuid
from typing import Any

PATIENT_ID = "bench-1"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# (LOINC, unit, low, high): guideline analytes and unrelated labs that share the chart.
_RELEVANT = [
    ("2132-9", "pg/mL", 120.0, 900.0),
    ("14685-2", "pmol/L", 90.0, 600.0),
    ("72160-5", "pmol/L", 15.0, 120.0),
    ("13964-2", "umol/L", 0.1, 0.6),
    ("13965-9", "umol/L", 6.0, 25.0),
    ("17861-6", "mg/dL", 7.5, 10.5),
    ("1751-7", "g/dL", 2.8, 5.0),
    ("19123-9", "mg/dL", 1.2, 2.5),
    ("2823-3", "mmol/L", 2.8, 5.2),
    ("2951-2", "mmol/L", 128.0, 145.0),
]
_IRRELEVANT = [
    ("2345-7", "mg/dL", 70.0, 180.0),  # glucose
    ("4548-4", "%", 5.0, 9.0),  # HbA1c
    ("2160-0", "mg/dL", 0.6, 1.8),  # creatinine
    ("718-7", "g/dL", 10.0, 16.0),  # haemoglobin
    ("8480-6", "mm[Hg]", 100.0, 170.0),  # systolic BP
    ("29463-7", "kg", 50.0, 110.0),  # body weight
]


def _observation(rng: random.Random, index: int, relevant: bool) -> dict[str, Any]:
    code, unit, low, high = rng.choice(_RELEVANT if relevant else _IRRELEVANT)
    year = 2022 + index % 5
    return {
        "fullUrl": f"https://ehr.example.org/fhir/Observation/o{index}",
        "resource": {
            "resourceType": "Observation",
            "id": f"o{index}",
            "status": rng.choice(["final", "final", "final", "amended", "preliminary"]),
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": code},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": f"{year}-{1 + index % 12:02d}-{1 + index % 28:02d}T08:00:00Z",
            "issued": f"{year}-{1 + index % 12:02d}-{1 + index % 28:02d}T12:00:00Z",
            "valueQuantity": {
                "value": round(rng.uniform(low, high), 2),
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
            "referenceRange": [{"text": "see laboratory report"}],
        },
    }


def _bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def _medication(index: int, rxnorm: str, display: str, kind: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": f"m{index}",
        "status": "active",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": rxnorm, "display": display}],
            "text": display,
        },
    }
    if kind == "MedicationRequest":
        resource.update(intent="order", authoredOn="2023-02-01")
    else:
        resource["effectivePeriod"] = {"start": "2023-02-01"}
    return {"resource": resource}


def patient_view(observations: int, *, seed: int = 7, relevant_share: float = 0.5) -> dict[str, Any]:
    """A patient-view request with `observations` Observations, about half of them irrelevant."""
    rng = random.Random(seed)
    obs = [_observation(rng, i, rng.random() < relevant_share) for i in range(observations)]
    statements = [
        _medication(1, "6809", "metformin", "MedicationStatement"),
        _medication(2, "7646", "omeprazole", "MedicationStatement"),
        _medication(3, "29046", "lisinopril", "MedicationStatement"),
    ]
    requests_ = [
        _medication(4, "4603", "furosemide", "MedicationRequest"),
        _medication(5, "83367", "atorvastatin", "MedicationRequest"),
    ]
    conditions = [
        {
            "resource": {
                "resourceType": "Condition",
                "id": f"c{i}",
                "clinicalStatus": {
                    "coding": [
                        {"system": CLINICAL, "code": "active"}
                    ]
                },
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
            }
        }
        for i, code in enumerate(["E11.9", "I10", "R25.3", "K21.9"])
    ]
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "context": {"userId": "Practitioner/bench", "patientId": PATIENT_ID},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": PATIENT_ID,
                "birthDate": "1956-05-17",
                "gender": "female",
            },
            "observations": _bundle(obs),
            "medicationStatements": _bundle(statements),
            "medicationRequests": _bundle(requests_),
            "conditions": _bundle(conditions),
        },
    }


def resource_count(request: dict[str, Any]) -> int:
    total = 0
    for value in request["prefetch"].values():
        if value and value.get("resourceType") == "Bundle":
            total += len(value.get("entry", []))
        elif value:
            total += 1
    return total
