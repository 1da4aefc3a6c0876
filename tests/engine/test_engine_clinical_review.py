"""Clinical review scenarios: each pins a defect that once gave a wrong or noisy finding."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import SNOMED, chart, cond, med, normal_workup, obs, run, topics


@pytest.mark.parametrize(
    ("atc", "text"),
    [
        ("A10BD19", "Glyxambi 10/5 mg tablet"),  # linagliptin and empagliflozin: no metformin
        ("A10BD09", "Incresync 25/30 mg tablet"),  # alogliptin and pioglitazone
    ],
)
def test_metformin_free_combination_is_not_metformin(atc, text):
    assessment = run(chart(meds=[med(atc=atc, text=text)]))
    assert not any(m.class_key == "metformin" for m in assessment.facts.medications)
    assert topics(assessment) == []


def test_metformin_combination_still_counts():
    assessment = run(chart(meds=[med(atc="A10BD07", text="Janumet 50/1000 mg tablet")]))
    assert [m.class_key for m in assessment.facts.medications] == ["metformin"]
    assert topics(assessment) == ["b12-testing-recommended"]


def test_helicobacter_pack_without_ppi_is_not_a_ppi():
    # Bismuth subcitrate, tetracycline and metronidazole (A02BD08) contains no acid suppressant.
    assessment = run(chart(meds=[med(atc="A02BD08", text="Pylera capsules", start="2024-01-01")]))
    assert not any(m.class_key == "ppi" for m in assessment.facts.medications)
    assert topics(assessment) == []


def test_helicobacter_pack_with_ppi_is_a_ppi():
    assessment = run(chart(meds=[med(atc="A02BD05", text="triple therapy pack")]))
    assert [m.class_key for m in assessment.facts.medications] == ["ppi"]
    assert [m.matched_by for m in assessment.facts.medications] == ["atc"]


@pytest.mark.parametrize("code", ["H53.50", "H53.0", "H53.60"])
def test_long_standing_vision_trait_is_not_a_red_flag(code):
    # Colour blindness, amblyopia or night blindness beside twitching is not a new vision change.
    assessment = run(chart(normal_workup(), conditions=[cond("32402008", SNOMED), cond(code)]))
    assert topics(assessment) == []


@pytest.mark.parametrize("code", ["H53.2", "H53.10", "H53.40"])
def test_new_visual_symptom_is_a_red_flag(code):
    assessment = run(chart(normal_workup(), conditions=[cond("32402008", SNOMED), cond(code)]))
    assert topics(assessment) == ["twitching-red-flags"]


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "expected"),
    [
        ("19123-9", 1.7, "mg/dL", []),  # on the 0.70 mmol/L cut-off (1.7 mg/dL), not below it
        ("19123-9", 1.6, "mg/dL", [("hypomagnesemia", "warning")]),
        ("19123-9", 1.2, "mg/dL", [("hypomagnesemia", "warning")]),  # on the severe cut-off
        ("19123-9", 1.1, "mg/dL", [("hypomagnesemia", "critical")]),
        # 1.90 mmol/L, stated to three figures, is 7.62 mg/dL: 7.6 mg/dL (1.896 mmol/L) is below it
        ("29265-6", 7.6, "mg/dL", [("hypocalcemia", "critical")]),
        ("29265-6", 7.7, "mg/dL", [("hypocalcemia", "warning")]),
        ("29265-6", 7.5, "mg/dL", [("hypocalcemia", "critical")]),
        ("29265-6", 8.5, "mg/dL", []),
        ("14685-2", 133, "pmol/L", [("b12-indeterminate", "info")]),  # 180 ng/L = 133 pmol/L
        ("14685-2", 132, "pmol/L", [("b12-deficiency", "warning")]),
    ],
)
def test_converted_result_is_judged_at_its_reported_precision(loinc, value, unit, expected):
    assessment = run(chart([obs(loinc, value, unit)]))
    assert [(str(f.topic), str(f.severity)) for f in assessment.findings] == expected
