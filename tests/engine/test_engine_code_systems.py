"""Code systems as EHRs spell them: HL7 OIDs, a trailing slash, a SNOMED CT edition path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.engine_fhir import PID, chart, obs, run, topics


def _with_system(resource: dict[str, Any], system: str) -> dict[str, Any]:
    concept = resource.get("code") or resource["medicationCodeableConcept"]
    concept["coding"][0]["system"] = system
    return resource


def _condition(system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"c-{abs(hash((system, code)))}",
        "subject": {"reference": f"Patient/{PID}"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": system, "code": code}]},
    }


def _request(system: str, code: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"m-{abs(hash((system, code)))}",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}]},
    }


LOW_B12 = ["http://loinc.org", "http://loinc.org/", "urn:oid:2.16.840.1.113883.6.1", " http://loinc.org "]


@pytest.mark.parametrize("system", LOW_B12)
def test_a_loinc_result_is_read_whatever_the_spelling_of_its_system(system):
    result = run(chart([_with_system(obs("2132-9", 120, "pg/mL"), system)]))
    assert topics(result) == ["b12-deficiency"]


@pytest.mark.parametrize(
    ("system", "code", "expected"),
    [
        ("urn:oid:2.16.840.1.113883.6.90", "K50.90", ["b12-testing-recommended"]),  # ICD-10-CM OID
        ("http://hl7.org/fhir/sid/icd-10-cm/", "K50.90", ["b12-testing-recommended"]),
        ("urn:oid:2.16.840.1.113883.6.96", "34000006", ["b12-testing-recommended"]),  # SNOMED CT OID
        ("http://snomed.info/sct/731000124108", "34000006", ["b12-testing-recommended"]),  # US edition
        ("http://example.org/local", "K50.90", []),  # an unknown system is never guessed at
    ],
)
def test_a_condition_is_matched_whatever_the_spelling_of_its_system(system, code, expected):
    assert topics(run(chart(conditions=[_condition(system, code)]))) == expected


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("urn:oid:2.16.840.1.113883.6.88", ["b12-testing-recommended"]),  # RxNorm OID
        ("http://www.nlm.nih.gov/research/umls/rxnorm/", ["b12-testing-recommended"]),
        ("http://example.org/local", []),
    ],
)
def test_a_medication_is_matched_whatever_the_spelling_of_its_system(system, expected):
    assert topics(run(chart(meds=[_request(system, "6809")]))) == expected
