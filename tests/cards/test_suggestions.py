"""Suggestions: draft FHIR orders that validate, and never a repeat test or a drug already taken."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.engine.guard import recent_loincs
from cds.engine.model import Finding, Severity, Topic, TreatmentOption
from tests.cards.card_helpers import (
    FOLATE,
    HOMOCYSTEINE,
    KNOWLEDGE,
    MMA,
    assert_valid_response,
    build_cards,
    context,
    deficiency,
    validate_fhir,
)
from tests.engine.guard_helpers import facts_of, guarded

NOW = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"


def _resources(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions", ()) for a in s["actions"]]


def _with_recent_mma(finding: Finding) -> list[Finding]:
    """The finding as the safety check leaves it on a chart with a recent MMA result."""
    mma = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "13964-2"}]},
        "effectiveDateTime": "2026-09-01",
        "valueQuantity": {"value": 0.2, "unit": "umol/L"},
    }
    return guarded([finding], {"observations": {"resourceType": "Bundle", "entry": [{"resource": mma}]}}, NOW)


def test_treatment_options_are_draft_medication_requests_choose_one() -> None:
    [card] = build_cards([deficiency()], context())
    assert card["selectionBehavior"] == "at-most-one"
    assert [s["label"] for s in card["suggestions"]] == [
        "Oral cyanocobalamin 1000 micrograms daily",
        "Sublingual cyanocobalamin 1000 micrograms daily",
        "Intramuscular hydroxocobalamin 1000 micrograms monthly",
    ]
    routes = []
    for resource in _resources(card):
        validate_fhir(resource)
        assert resource["resourceType"] == "MedicationRequest"
        assert (resource["status"], resource["intent"]) == ("draft", "proposal")
        assert resource["subject"] == {"reference": "Patient/p1"}
        systems = {c["system"] for c in resource["medicationCodeableConcept"]["coding"]}
        assert systems == {RXNORM, ATC}
        assert resource["reasonCode"][0]["coding"][0] == {
            "system": SNOMED,
            "code": "190634004",
            "display": "Vitamin B12 deficiency",
        }
        dosage = resource["dosageInstruction"][0]
        assert dosage["text"]
        assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 1000
        assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "ug"
        routes.append(dosage["route"]["coding"][0]["code"])
    assert routes == ["26643006", "37839007", "78421000"]


def _im_order(key: str) -> dict[str, Any]:
    options = (TreatmentOption(key, recommended=True),)
    [card] = build_cards([deficiency(treatments=options)], context())
    [resource] = _resources(card)
    validate_fhir(resource)
    return resource


def test_neurological_loading_is_two_structured_phases() -> None:
    dosages = _im_order("b12-im-neuro")["dosageInstruction"]
    assert [d["sequence"] for d in dosages] == [1, 2]
    assert [d["timing"]["repeat"] for d in dosages] == [
        {"frequency": 1, "period": 2, "periodUnit": "d"},  # loading: alternate days
        {"frequency": 1, "period": 1, "periodUnit": "mo"},  # maintenance: the knowledge file's interval
    ]
    assert "alternate days" in dosages[0]["text"] and "Maintenance" in dosages[1]["text"]
    assert all(d["route"]["coding"][0]["code"] == "78421000" for d in dosages)


def test_intramuscular_without_neurological_involvement_is_one_monthly_instruction() -> None:
    [dosage] = _im_order("b12-im")["dosageInstruction"]
    assert "sequence" not in dosage
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 1, "periodUnit": "mo"}


@pytest.mark.parametrize("recommended", ["b12-oral", "b12-im"])
def test_is_recommended_follows_the_engine(recommended: str) -> None:
    options = tuple(
        TreatmentOption(key, recommended=key == recommended)
        for key in ("b12-oral", "b12-sublingual", "b12-im")
    )
    [card] = build_cards([deficiency(treatments=options)], context())
    flagged = [s for s in card["suggestions"] if s.get("isRecommended")]
    assert len(flagged) == 1
    assert recommended.split("-")[1] in flagged[0]["label"].lower().replace("intramuscular", "im")


def test_tests_are_draft_service_requests_any_of_them() -> None:
    finding = Finding(
        topic=Topic.B12_INDETERMINATE,
        severity=Severity.WARNING,
        title="B12 indeterminate",
        tests=(MMA, HOMOCYSTEINE),
    )
    [card] = build_cards([finding], context())
    assert card["selectionBehavior"] == "any"
    resources = _resources(card)
    assert [r["code"]["coding"][0]["code"] for r in resources] == ["13964-2", "13965-9"]
    for resource in resources:
        validate_fhir(resource)
        assert (resource["status"], resource["intent"]) == ("draft", "proposal")
        assert resource["code"]["coding"][0]["system"] == "http://loinc.org"
        assert resource["subject"] == {"reference": "Patient/p1"}
        assert resource["reasonCode"][0]["text"] == "B12 result is indeterminate"
    assert_valid_response({"cards": [card]})


def test_deficiency_with_tests_gets_a_companion_test_card() -> None:
    cards = build_cards([deficiency(tests=(FOLATE,))], context())
    assert [(c["source"]["topic"]["code"], c.get("selectionBehavior")) for c in cards] == [
        ("b12-deficiency", "at-most-one"),
        ("b12-deficiency", "any"),
    ]
    assert cards[1]["indicator"] == "info"
    assert [r["resourceType"] for r in _resources(cards[1])] == ["ServiceRequest"]
    assert cards[0]["uuid"] != cards[1]["uuid"]
    assert_valid_response({"cards": cards})


def test_no_suggestion_for_a_test_with_a_recent_result() -> None:
    finding = Finding(
        topic=Topic.B12_INDETERMINATE,
        severity=Severity.WARNING,
        title="B12 indeterminate",
        tests=(MMA, HOMOCYSTEINE),
    )
    [card] = build_cards(_with_recent_mma(finding), context())
    assert [r["code"]["coding"][0]["code"] for r in _resources(card)] == ["13965-9"]
    assert "Methylmalonic acid was not suggested: the chart has a recent result" in card["detail"]


def test_no_suggestions_at_all_when_every_test_has_a_recent_result() -> None:
    finding = Finding(topic=Topic.B12_INDETERMINATE, severity=Severity.WARNING, title="x", tests=(MMA,))
    [card] = build_cards(_with_recent_mma(finding), context())
    assert "suggestions" not in card and "selectionBehavior" not in card
    assert_valid_response({"cards": [card]})


def _statement(concept: dict[str, Any], status: str = "active", patient: str = "p1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "status": status,
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": concept,
    }


def _on_chart(*statements: dict[str, Any]) -> list[Finding]:
    """A deficiency finding as the safety check leaves it on a chart with these statements."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": s} for s in statements]}
    return guarded([deficiency()], {"medicationStatements": bundle}, NOW)


@pytest.mark.parametrize(
    "concept",
    [
        {"coding": [{"system": ATC, "code": "B03BA01"}]},
        {"coding": [{"system": RXNORM, "code": "5514"}]},
        {"text": "Vitamin B12 1000 mcg tablets (own supply)"},
        {"coding": [{"system": RXNORM, "code": "999999", "display": "Methylcobalamin 1 MG Oral Tablet"}]},
    ],
)
def test_no_treatment_offered_to_a_patient_already_on_b12(concept: dict[str, Any]) -> None:
    [card] = build_cards(_on_chart(_statement(concept)), context())
    assert "suggestions" not in card and "selectionBehavior" not in card
    assert "already contains vitamin B12" in card["detail"]


@pytest.mark.parametrize(
    "statement",
    [
        _statement({"text": "Cyanocobalamin 1000 mcg"}, status="stopped"),
        _statement({"text": "Cyanocobalamin 1000 mcg"}, status="entered-in-error"),
        _statement({"text": "Cyanocobalamin 1000 mcg"}, patient="someone-else"),
        _statement({"text": "Metformin 500 mg"}),
    ],
)
def test_treatment_still_offered_when_b12_is_not_currently_taken(statement: dict[str, Any]) -> None:
    [card] = build_cards(_on_chart(statement), context())
    assert len(card["suggestions"]) == 3


def test_treatment_options_only_on_a_confirmed_deficiency() -> None:
    finding = deficiency(topic=Topic.B12_INDETERMINATE, title="B12 indeterminate")
    [card] = build_cards(guarded([finding], {}, NOW), context())
    assert "suggestions" not in card


def test_unknown_treatment_key_is_left_out() -> None:
    options = (
        TreatmentOption("b12-nasal-spray", recommended=True),
        TreatmentOption("b12-oral", recommended=False),
    )
    [card] = build_cards(guarded([deficiency(treatments=options)], {}, NOW), context())
    assert [s["label"] for s in card["suggestions"]] == ["Oral cyanocobalamin 1000 micrograms daily"]


def _observation(
    code: str,
    when: str,
    status: str = "final",
    patient: str | None = "p1",
    value: dict[str, Any] | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": when,
    }
    if patient is not None:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    resource.update(value if value is not None else {"valueQuantity": {"value": 0.2, "unit": "umol/L"}})
    return resource


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": unit}}


def _recent(*observations: dict[str, Any]) -> frozenset[str]:
    """The tests the safety check counts as having a recent result on this chart."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": o} for o in observations]}
    return recent_loincs(facts_of({"observations": bundle}, NOW), KNOWLEDGE)


def test_recent_results_ignore_old_entered_in_error_and_other_patients() -> None:
    assert _recent(
        _observation("13964-2", "2026-08-01T10:00:00Z"),
        _observation("13965-9", "2024-01-01"),
        _observation("19123-9", "2026-09-01", status="entered-in-error"),
        _observation("2132-9", "2026-09-01", patient="other"),
    ) == frozenset({"13964-2"})


@pytest.mark.parametrize(
    ("observation", "counts"),
    [
        (_observation("13964-2", "2026-09-01"), True),
        (_observation("13964-2", "2026-09-01", status="preliminary"), True),
        # The engine sets these aside and asks for the test again: the card must not drop it.
        (_observation("13964-2", "2026-09-01", value={}), False),
        (_observation("13964-2", "2026-09-01", patient=None), False),
        (_observation("13964-2", "2027-03-01"), False),
        (_observation("13964-2", "2026-09-01", status="registered"), False),
        (_observation("13964-2", "2026-09-01", value={"valueString": "<0.1"}), False),
        (_observation("13964-2", "2026-09-01", value=_quantity(0.2, "mg/L")), False),
        (_observation("13964-2", "2026-09-01", value={"dataAbsentReason": {"text": "haemolysed"}}), False),
        (_observation("2132-9", "2026-09-01", value=_quantity(0, "pg/mL")), False),
        (_observation("2823-3", "2026-09-01", value=_quantity(4.1, "mmol/L")), False),  # 44 days old
        (_observation("2823-3", "2026-10-01", value=_quantity(4.1, "mmol/L")), True),
        (_observation("62292-8", "2026-09-01", value=_quantity(60, "nmol/L")), True),
        (_observation("62292-8", "2026-09-01", value={}), False),
    ],
)
def test_a_recent_result_is_one_the_engine_would_use(observation: dict[str, Any], counts: bool) -> None:
    recent = _recent(observation)
    assert (observation["code"]["coding"][0]["code"] in recent) is counts


def test_summary_and_advice_name_only_the_tests_still_suggested() -> None:
    finding = Finding(
        topic=Topic.TWITCHING_WORKUP,
        severity=Severity.INFO,
        title="Twitching: tests to complete the work-up",
        tests=(MMA, HOMOCYSTEINE),
    )
    [card] = build_cards(_with_recent_mma(finding), context())
    assert card["summary"] == "Twitching: tests to complete the work-up (Homocysteine)"
    assert "Order Methylmalonic acid" not in card["detail"]
    assert "Order Homocysteine" in card["detail"]


def test_a_card_never_refers_to_tests_it_does_not_carry() -> None:
    finding = Finding(
        topic=Topic.TWITCHING_WORKUP,
        severity=Severity.INFO,
        title="Twitching: tests to complete the work-up",
        tests=(MMA,),
    )
    [card] = build_cards(_with_recent_mma(finding), context())
    assert "suggestions" not in card
    assert "below" not in card["detail"]
    assert "Methylmalonic acid was not suggested" in card["detail"]
    [card] = build_cards([finding], context())  # with the test on the card, the advice stays
    assert "Complete the missing tests below." in card["detail"]


def test_no_order_promised_when_every_test_was_dropped() -> None:
    finding = Finding(
        topic=Topic.B12_TESTING_RECOMMENDED,
        severity=Severity.INFO,
        title="B12 test recommended",
        tests=(MMA,),
    )
    [card] = build_cards(_with_recent_mma(finding), context())
    assert card["summary"] == "B12 test recommended"
