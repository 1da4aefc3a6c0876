"""Magnesium, calcium, potassium and sodium findings."""

from __future__ import annotations

import pytest

from cds.knowledge import load_knowledge
from tests.engine.engine_fhir import chart, finding, med, obs, run, topics


@pytest.mark.parametrize(
    ("value", "unit", "severity"),
    [
        (0.71, "mmol/L", None),
        (0.70, "mmol/L", None),
        (0.69, "mmol/L", "warning"),
        (0.50, "mmol/L", "warning"),
        (0.49, "mmol/L", "critical"),
        (1.6, "mg/dL", "warning"),
        (1.2, "mg/dL", "warning"),  # on the severe cut-off (0.50 mmol/L = 1.2 mg/dL), like 0.50 mmol/L
        (1.1, "mg/dL", "critical"),
    ],
)
def test_magnesium_boundaries(value, unit, severity):
    found = finding(run(chart([obs("2601-3", value, unit)])), "hypomagnesemia")
    assert (found.severity if found else None) == severity


def test_hypomagnesemia_names_ppi_and_diuretic_as_causes():
    result = run(chart([obs("2601-3", 0.6, "mmol/L")], meds=[med(rxnorm="40790"), med(rxnorm="5487")]))
    low = finding(result, "hypomagnesemia")
    assert [c.key for c in low.causes] == ["ppi", "thiazide-diuretic"]
    assert "ppi-magnesium" in low.notes


@pytest.mark.parametrize(
    ("medications", "expected"),
    [
        ([med(rxnorm="7646", start="2025-11-01")], True),  # exactly 12 months
        ([med(rxnorm="7646", start="2025-11-02")], False),
        ([med(rxnorm="7646", start="2026-09-01"), med(rxnorm="4603")], True),  # with a loop diuretic
        ([med(rxnorm="7646", start="2026-09-01"), med(rxnorm="3407")], True),  # with digoxin
        ([med(rxnorm="7646", start=None)], False),
        ([med(rxnorm="4603")], False),
    ],
)
def test_magnesium_testing_recommended(medications, expected):
    result = run(chart([obs("2132-9", 500, "pg/mL")], meds=medications))
    assert ("magnesium-testing-recommended" in topics(result)) is expected


def test_magnesium_testing_not_recommended_with_a_recent_magnesium_and_long_term_is_configurable():
    long_term = [med(rxnorm="7646", start="2024-01-01")]
    assert "magnesium-testing-recommended" not in topics(
        run(chart([obs("2132-9", 500, "pg/mL"), obs("2601-3", 0.8, "mmol/L")], meds=long_term))
    )
    six_months = load_knowledge({"ppi_long_term_months": 6})
    recent_ppi = [med(rxnorm="7646", start="2026-04-01")]
    result = run(chart([obs("2132-9", 500, "pg/mL")], meds=recent_ppi), knowledge=six_months)
    assert topics(result) == ["magnesium-testing-recommended"]


@pytest.mark.parametrize(
    ("calcium", "albumin", "severity"),
    [
        (2.13, 40, None),
        (2.12, 40, None),
        (2.11, 40, "warning"),
        (1.90, 40, "warning"),
        (1.89, 40, "critical"),
        (2.00, 30, None),  # corrected 2.20
        (2.30, 50, "warning"),  # corrected 2.10
        (8.4, None, "warning"),  # no albumin: low total calcium, flagged as uncorrected
        (8.6, None, None),  # 2.146 mmol/L uncorrected: not low
    ],
)
def test_corrected_calcium_boundaries(calcium, albumin, severity):
    labs = [obs("2000-8", calcium, "mmol/L")] if calcium < 5 else [obs("17861-6", calcium, "mg/dL")]
    if albumin is not None:
        labs.append(obs("1751-7", albumin, "g/L"))
    found = finding(run(chart(labs)), "hypocalcemia")
    assert (found.severity if found else None) == severity


def test_correction_is_recorded_and_uses_mg_dl_with_g_dl():
    labs = [obs("17861-6", 8.0, "mg/dL"), obs("1751-7", 3.0, "g/dL")]  # 1.996 + 0.2 = 2.196
    assert finding(run(chart(labs)), "hypocalcemia") is None
    labs = [obs("17861-6", 7.6, "mg/dL"), obs("1751-7", 3.8, "g/dL")]  # 1.896 + 0.04 = 1.936
    low = finding(run(chart(labs)), "hypocalcemia")
    assert low.severity == "warning"
    assert low.primary.analyte == "calcium_corrected"
    assert "corrected for albumin 3.8 g/dL" in low.primary.note
    assert " + " in low.primary.reference
    assert set(low.notes) == {"chvostek-sign", "calcium-correction-caveat"}


def test_reported_corrected_calcium_is_used_as_is_and_ionized_taken_with_it_wins():
    assert finding(run(chart([obs("29265-6", 2.05, "mmol/L")])), "hypocalcemia").primary.loinc == "29265-6"
    labs = [obs("29265-6", 2.05, "mmol/L"), obs("1995-0", 1.20, "mmol/L")]
    assert finding(run(chart(labs)), "hypocalcemia") is None
    labs = [obs("29265-6", 2.30, "mmol/L"), obs("1994-3", 1.05, "mmol/L")]
    low = finding(run(chart(labs)), "hypocalcemia")
    assert low.primary.analyte == "calcium_ionized"
    assert "ionized calcium taken with it is preferred" in low.evidence[1].note


def test_an_albumin_from_over_a_year_ago_is_neither_used_nor_quoted():
    labs = [obs("2000-8", 2.0, "mmol/L"), obs("1751-7", 20, "g/L", "2025-01-01")]
    low = finding(run(chart(labs)), "hypocalcemia")
    # Corrected with that albumin it would be 2.40 (normal); uncorrected it stays low but unproven.
    assert low.primary.analyte == "calcium_total"
    assert low.primary.note == "not corrected for albumin"
    assert low.severity == "warning"


@pytest.mark.parametrize("total", [2.0, 1.5])
def test_low_total_calcium_without_albumin_asks_for_albumin_and_never_claims_severity(total):
    low = finding(run(chart([obs("2000-8", total, "mmol/L", "2026-10-30")])), "hypocalcemia")
    assert low.severity == "warning"
    assert low.title == "Low total calcium (not corrected for albumin)"
    assert [t.loinc for t in low.tests][:1] == ["1751-7"]
    assert low.advice == ("calcium-uncorrected",)


@pytest.mark.parametrize(
    ("potassium", "sodium", "severity", "lead"),
    [
        (3.5, 135, None, None),
        (3.49, 135, "info", "potassium"),  # mild, no symptoms: info
        (3.3, 135, "info", "potassium"),
        (3.29, 135, "warning", "potassium"),
        (2.5, 140, "warning", "potassium"),
        (2.49, 140, "critical", "potassium"),
        (4.0, 134.9, "info", "sodium"),
        (4.0, 130, "info", "sodium"),
        (4.0, 129.9, "warning", "sodium"),
        (4.0, 125, "warning", "sodium"),
        (4.0, 124.9, "critical", "sodium"),
        (3.2, 120, "critical", "sodium"),  # the most severe abnormality leads
    ],
)
def test_potassium_and_sodium_boundaries(potassium, sodium, severity, lead):
    found = finding(
        run(chart([obs("2823-3", potassium, "mmol/L"), obs("2951-2", sodium, "mmol/L")])),
        "electrolyte-imbalance",
    )
    assert (found.severity if found else None) == severity
    if found:
        assert found.primary.analyte == lead


def test_site_can_override_electrolyte_cutoffs():
    knowledge = load_knowledge({"potassium_low": 3.6})
    assert topics(run(chart([obs("2823-3", 3.55, "mmol/L")]), knowledge=knowledge)) == [
        "electrolyte-imbalance"
    ]


@pytest.mark.parametrize(
    ("albumin_date", "corrected"),
    [
        ("2026-10-25", True),
        ("2026-10-18", True),
        ("2026-11-01", True),
        ("2026-10-17", False),
    ],
)
def test_albumin_corrects_only_a_calcium_measured_within_a_week(albumin_date, corrected):
    labs = [obs("2000-8", 2.0, "mmol/L", "2026-10-25"), obs("1751-7", 30, "g/L", albumin_date)]
    low = finding(run(chart(labs)), "hypocalcemia")
    if corrected:
        assert low is None  # 2.0 + 0.02 x (40 - 30) = 2.20: normal
    else:
        assert low.primary.note.startswith("not corrected for albumin; albumin 30 g/L 8 days earlier")
