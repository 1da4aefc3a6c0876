"""Blood-specimen laboratory codes that measure the same quantity as the serum codes."""

from __future__ import annotations

import math

import pytest

from tests.engine.engine_fhir import KNOWLEDGE, chart, finding, obs, run


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "analyte", "expected"),
    [
        ("49765-1", 8.0, "mg/dL", "calcium_total", 8.0 / 4.008),
        ("49765-1", 2.0, "mmol/L", "calcium_total", 2.0),
        ("6298-4", 3.0, "mmol/L", "potassium", 3.0),
        ("2947-0", 128, "mmol/L", "sodium", 128.0),
        ("1994-3", 1.0, "mmol/L", "calcium_ionized", 1.0),
    ],
)
def test_blood_codes_are_read_as_their_analyte(loinc, value, unit, analyte, expected):
    result = run(chart([obs(loinc, value, unit)])).facts.latest(analyte)
    assert result is not None and result.loinc == loinc
    assert math.isclose(result.value, expected)


def test_low_blood_calcium_with_albumin_gets_a_calcium_card():
    labs = [obs("49765-1", 7.6, "mg/dL", ident="blood-ca"), obs("1751-7", 3.8, "g/dL")]  # corrected 1.936
    low = finding(run(chart(labs)), "hypocalcemia")
    assert low is not None and low.primary.analyte == "calcium_corrected"
    assert "Observation/blood-ca" in low.primary.reference


def test_whole_blood_b12_is_not_read_as_serum_b12():
    assert "16695-9" not in KNOWLEDGE.loinc_to_analyte  # B12 in whole blood includes red-cell B12


def test_every_lab_code_has_a_certainty_mark():
    import json
    from importlib import resources

    raw = json.loads(resources.files("cds.knowledge").joinpath("labs.json").read_text("utf-8"))
    for analyte in raw["analytes"].values():
        for code in analyte["loinc"]:
            assert code["certainty"] in {"V", "S", "U"}, code
