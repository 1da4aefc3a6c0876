"""Results that cannot be read or are not plausible: set aside, named, never a finding."""

from __future__ import annotations

from typing import Any

import pytest

from cds.knowledge import load_knowledge
from tests.engine.engine_fhir import SNOMED, chart, cond, finding, normal_workup, obs, run, topics


def _text_value(loinc: str, value: str) -> dict[str, Any]:
    resource = obs(loinc, 0, "pg/mL")
    del resource["valueQuantity"]
    resource["valueString"] = value
    return resource


def _absent(loinc: str, reason: dict[str, Any]) -> dict[str, Any]:
    resource = obs(loinc, 0, "pg/mL")
    del resource["valueQuantity"]
    resource["dataAbsentReason"] = reason
    return resource


UNREADABLE = [
    ("text value", _text_value("2132-9", "<150"), "reported as text '<150'"),
    ("specimen error", _absent("2823-3", {"coding": [{"code": "error"}]}), "laboratory reported an error"),
    ("absent with text", _absent("2823-3", {"text": "Sample haemolysed"}), "Sample haemolysed"),
    ("unknown unit", obs("2601-3", 0.8, "mg/L"), "unit 'mg/L' not recognised"),
    ("conflicting unit", obs("2132-9", 300, "pmol/L", code="pg/mL"), "disagree"),
    ("no unit", obs("2951-2", 140, None), "no unit given"),
    ("zero B12", obs("2132-9", 0, "pg/mL"), "outside physiological limits"),
    ("zero potassium", obs("2823-3", 0, "mmol/L"), "outside physiological limits"),
    ("potassium above limit", obs("2823-3", 14, "mmol/L"), "outside physiological limits"),
    ("sodium below limit", obs("2951-2", 40, "mmol/L"), "outside physiological limits"),
    ("B12 above limit", obs("2132-9", 25000, "pg/mL"), "outside physiological limits"),
    ("magnesium below limit", obs("2601-3", 0.05, "mmol/L"), "outside physiological limits"),
    ("calcium above limit", obs("2000-8", 6.2, "mmol/L"), "outside physiological limits"),
    ("albumin below limit", obs("1751-7", 2, "g/L"), "outside physiological limits"),
]


@pytest.mark.parametrize(("label", "resource", "reason"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_unreadable_result_is_named_and_its_test_offered_again(label, resource, reason):
    assessment = run(chart([resource]))
    assert topics(assessment) == ["result-unreadable"], label
    found = finding(assessment, "result-unreadable")
    assert [g.item for g in found.gaps] == [f"Observation/{resource['id']} ({_display(resource)})"]
    assert reason in found.gaps[0].reason
    loinc = resource["code"]["coding"][0]["code"]
    analyte = load_knowledge().loinc_to_analyte[loinc]
    assert [t.key for t in found.tests] == [load_knowledge().labs[analyte].test]


def _display(resource: dict[str, Any]) -> str:
    knowledge = load_knowledge()
    return knowledge.labs[knowledge.loinc_to_analyte[resource["code"]["coding"][0]["code"]]].display


@pytest.mark.parametrize(
    ("label", "observations"),
    [
        ("readable result", [obs("2132-9", 400, "pg/mL")]),
        ("plausible low B12 at the assay limit", [obs("2132-9", 50, "pg/mL", comparator="<")]),
        ("unreadable but a readable newer one", [obs("2823-3", 0, "mmol/L"), obs("2823-3", 4.1, "mmol/L")]),
        ("unreadable and old", [obs("2823-3", 0, "mmol/L", "2024-01-01")]),
        ("pending result", [obs("2823-3", 4.0, "mmol/L", status="registered")]),
    ],
)
def test_no_unreadable_card_when_nothing_needs_repeating(label, observations):
    assert "result-unreadable" not in topics(run(chart(observations))), label


@pytest.mark.parametrize(
    ("resource", "silenced"),
    [
        (obs("2132-9", 0, "pg/mL"), "b12-deficiency"),  # 0 pg/mL is not a deficiency
        (obs("2823-3", 0, "mmol/L"), "electrolyte-imbalance"),  # nor 0 mmol/L a critical low potassium
        (obs("2823-3", 0.4, "mmol/L"), "electrolyte-imbalance"),
        (obs("2601-3", 0.02, "mmol/L"), "hypomagnesemia"),
        (obs("2951-2", 60, "mmol/L"), "electrolyte-imbalance"),
        (obs("2000-8", 0.5, "mmol/L"), "hypocalcemia"),
        (obs("2132-9", 30000, "pg/mL"), "b12-elevated"),
    ],
)
def test_implausible_value_never_drives_a_finding(resource, silenced):
    assert silenced not in topics(run(chart([resource])))


def test_plausibility_limits_are_site_overridable():
    knowledge = load_knowledge({"potassium_plausible_low": 0.3})
    assessment = run(chart([obs("2823-3", 0.4, "mmol/L")]), knowledge=knowledge)
    assert topics(assessment) == ["electrolyte-imbalance"]


def test_plausibility_override_must_stay_below_the_severe_cutoff():
    with pytest.raises(ValueError, match="potassium_plausible_low"):
        load_knowledge({"potassium_plausible_low": 3.0})


def test_the_work_up_asks_again_for_a_test_whose_only_result_is_unreadable():
    observations = [o for o in normal_workup() if o["code"]["coding"][0]["code"] != "2823-3"]
    observations.append(_absent("2823-3", {"coding": [{"code": "error"}]}))
    assessment = run(chart(observations, conditions=[cond("32402008", SNOMED)]))
    assert topics(assessment) == ["twitching-workup"]  # one card asks for it, not two
    workup = finding(assessment, "twitching-workup")
    assert [t.key for t in workup.tests] == ["potassium"]
    assert any("laboratory reported an error" in g.reason for g in workup.gaps)
