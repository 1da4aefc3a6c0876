"""The golden diff: every kind of change is reported, and only real changes are."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cds.tools.fixture_replay import diff_cards, golden_form, suggestion_code

GOLDEN: dict[str, Any] = {
    "cards": [
        {"topic": "b12-deficiency", "indicator": "warning", "suggestions": ["13964-2", "11248"]},
        {"topic": "hypomagnesemia", "indicator": "critical", "suggestions": []},
    ]
}


def changed(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOLDEN)
    edit(data["cards"])
    return data


def test_identical_responses_have_no_differences() -> None:
    assert diff_cards(GOLDEN, copy.deepcopy(GOLDEN)) == []


@pytest.mark.parametrize(
    ("edit", "expected_fragment"),
    [
        (
            lambda c: c[0].update(indicator="critical"),
            "card b12-deficiency: indicator expected warning, got critical",
        ),
        (lambda c: c.pop(1), "missing card hypomagnesemia (critical)"),
        (
            lambda c: c.append({"topic": "hypocalcemia", "indicator": "info", "suggestions": []}),
            "extra card hypocalcemia (info)",
        ),
        (lambda c: c[0]["suggestions"].append("13965-9"), "card b12-deficiency: extra suggestion(s) 13965-9"),
        (lambda c: c[0]["suggestions"].remove("11248"), "card b12-deficiency: missing suggestion(s) 11248"),
        (lambda c: c[0]["suggestions"].reverse(), "card b12-deficiency: suggestion order changed"),
        (lambda c: c.reverse(), "card order changed"),
    ],
    ids=[
        "indicator",
        "missing-card",
        "extra-card",
        "extra-suggestion",
        "missing-suggestion",
        "suggestion-order",
        "card-order",
    ],
)
def test_each_change_is_reported(edit: Any, expected_fragment: str) -> None:
    differences = diff_cards(GOLDEN, changed(edit))
    assert any(expected_fragment in line for line in differences), differences


def test_duplicate_topics_pair_up_in_order() -> None:
    twice = {"cards": [GOLDEN["cards"][0], GOLDEN["cards"][0]]}
    assert diff_cards(twice, copy.deepcopy(twice)) == []
    assert diff_cards(twice, {"cards": [GOLDEN["cards"][0]]}) == ["missing card b12-deficiency (warning)"]


def _card(topic: str, indicator: str, suggestions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "summary": "s",
        "indicator": indicator,
        "source": {"label": "myelin-cds", "topic": {"code": topic}},
        "suggestions": suggestions,
    }


def test_golden_form_takes_loinc_of_tests_and_rxnorm_of_drugs() -> None:
    test = {
        "label": "Order MMA",
        "actions": [
            {
                "type": "create",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "code": {
                        "coding": [
                            {"system": "http://snomed.info/sct", "code": "1"},
                            {"system": "http://loinc.org", "code": "13964-2"},
                        ]
                    },
                },
            }
        ],
    }
    drug = {
        "label": "Start B12",
        "actions": [
            {
                "type": "create",
                "resource": {
                    "resourceType": "MedicationRequest",
                    "medicationCodeableConcept": {
                        "coding": [
                            {"system": "http://www.whocc.no/atc", "code": "B03BA01"},
                            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11248"},
                        ]
                    },
                },
            }
        ],
    }
    response = {"cards": [_card("b12-deficiency", "warning", [test, drug])]}
    assert golden_form(response) == {
        "cards": [{"topic": "b12-deficiency", "indicator": "warning", "suggestions": ["13964-2", "11248"]}]
    }


def test_suggestion_without_a_coded_resource_falls_back_to_its_label() -> None:
    assert suggestion_code({"label": "Review in 3 months", "actions": []}) == "label:Review in 3 months"
