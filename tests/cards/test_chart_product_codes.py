"""The safety check's "already taking B12" reads product codes and Medication resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.knowledge import MAX_CODE_LENGTH
from cds.reader import read_chart
from tests.cards.card_helpers import KNOWLEDGE, build_cards, context, deficiency
from tests.engine.guard_helpers import guarded

NOW = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
B12_INJECTION = "2001499"  # Vitamin B 12 5 MG/ML Injectable Solution: a product, not the ingredient
METFORMIN_TABLET = "860975"


def _concept(code: str | None, name: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": RXNORM, "code": code}] if code else []}
    if name:
        concept["text"] = name
    return concept


def _chart(shape: str, concept: dict[str, Any], kind: str = "MedicationStatement") -> dict[str, Any]:
    """A prefetch holding one active record of this medicine, sent in the given shape."""
    record: dict[str, Any] = {
        "resourceType": kind,
        "status": "active",
        "subject": {"reference": "Patient/p1"},
    }
    medication = {"resourceType": "Medication", "id": "m1", "code": concept}
    extra: list[dict[str, Any]] = []
    if shape == "inline":
        record["medicationCodeableConcept"] = concept
    elif shape == "contained":
        record["contained"] = [medication]
        record["medicationReference"] = {"reference": "#m1"}
    elif shape == "ingredient":  # a compounded Medication naming its ingredient only
        record["contained"] = [
            {"resourceType": "Medication", "id": "m1", "ingredient": [{"itemCodeableConcept": concept}]}
        ]
        record["medicationReference"] = {"reference": "#m1"}
    elif shape == "bundled":
        record["medicationReference"] = {"reference": "Medication/m1"}
        extra.append({"resource": medication})
    elif shape == "full-url":
        record["medicationReference"] = {"reference": "urn:uuid:7f1c"}
        extra.append({"fullUrl": "urn:uuid:7f1c", "resource": {**medication, "id": "other"}})
    elif shape == "absolute":
        record["medicationReference"] = {"reference": "https://ehr.example/fhir/Medication/m1"}
        extra.append({"resource": medication})
    key = "medicationRequests" if kind == "MedicationRequest" else "medicationStatements"
    return {key: {"resourceType": "Bundle", "entry": [{"resource": record}, *extra]}}


def _offered(data: dict[str, Any]) -> bool:
    [card] = build_cards(guarded([deficiency()], data, NOW), context())
    return len(card.get("suggestions", ())) == 3


def _classes(data: dict[str, Any]) -> set[str]:
    chart = read_chart(data, "p1", NOW, KNOWLEDGE)
    return {key for record in chart.medications for key, _how in record.classes}


SHAPES = ["inline", "contained", "ingredient", "bundled", "full-url", "absolute"]


@pytest.mark.parametrize("kind", ["MedicationStatement", "MedicationRequest"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("code", "name"),
    [
        (B12_INJECTION, None),  # code only: the unsafe case the guard used to miss
        (None, "Vitamin B 12 5 MG/ML Injectable Solution"),
        (B12_INJECTION, "Vitamin B 12 5 MG/ML Injectable Solution"),
    ],
)
def test_b12_product_on_the_chart_stops_treatment_options(shape, kind, code, name) -> None:
    data = _chart(shape, _concept(code, name), kind)
    assert not _offered(data)
    if code:
        assert "b12-therapy" in _classes(data)


@pytest.mark.parametrize(
    ("shape", "concept"),
    [
        ("inline", _concept(METFORMIN_TABLET)),  # a mapped product of another class
        ("inline", _concept("99999999")),  # a code the map does not know, and no name
        ("inline", _concept(B12_INJECTION.rjust(MAX_CODE_LENGTH + 1, "0"))),  # over-long: not looked up
        ("bundled", _concept(METFORMIN_TABLET)),
    ],
)
def test_other_or_unknown_codes_leave_treatment_offered(shape, concept) -> None:
    assert _offered(_chart(shape, concept))


def test_reference_to_a_missing_medication_is_not_read_as_b12() -> None:
    data = _chart("bundled", _concept(B12_INJECTION))
    data["medicationStatements"]["entry"][1]["resource"]["id"] = "not-m1"
    assert _offered(data)


def test_an_ended_b12_product_does_not_stop_treatment() -> None:
    data = _chart("contained", _concept(B12_INJECTION))
    data["medicationStatements"]["entry"][0]["resource"]["effectivePeriod"] = {"end": "2024-01-01"}
    assert _offered(data)


def test_code_lookup_uses_the_knowledge_product_map() -> None:
    classes = _classes(_chart("inline", _concept(METFORMIN_TABLET)))
    assert classes == set(KNOWLEDGE.medication_codes[METFORMIN_TABLET])
