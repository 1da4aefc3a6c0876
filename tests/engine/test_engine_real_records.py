"""Real records: numbers as databases write them, results above or below the reporting limit,
home medication lists of unknown status, local code systems and malformed shapes. Each table
states the general rule, not one chart."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.engine_fhir import chart, cond, finding, med, obs, run, topics

B12, MG_MASS, CA_MASS, K, NA = "2132-9", "19123-9", "17861-6", "2823-3", "2951-2"


# ---------------------------------------------------------------- 1. trailing zeros
@pytest.mark.parametrize(
    ("loinc", "value", "unit", "topic", "severity"),
    [
        # a total calcium written "8": 2.00 mmol/L, clearly below 8.50 mg/dL (2.12 mmol/L)
        (CA_MASS, 8, "mg/dL", "hypocalcemia", "warning"),
        (CA_MASS, 8.0, "mg/dL", "hypocalcemia", "warning"),
        (CA_MASS, 8.5, "mg/dL", "hypocalcemia", None),  # on 8.50: not below it
        (CA_MASS, 8.49, "mg/dL", "hypocalcemia", "warning"),
        # magnesium 1 mg/dL = 0.41 mmol/L: below 1.2 mg/dL (0.50 mmol/L)
        (MG_MASS, 1, "mg/dL", "hypomagnesemia", "critical"),
        (MG_MASS, 1.0, "mg/dL", "hypomagnesemia", "critical"),
        (MG_MASS, 1.2, "mg/dL", "hypomagnesemia", "warning"),  # on the severe cut-off
        (MG_MASS, 1.7, "mg/dL", "hypomagnesemia", None),  # on 0.70 mmol/L: not below it
        (MG_MASS, 1.6, "mg/dL", "hypomagnesemia", "warning"),
        # 133 pmol/L is 180 ng/L: on the deficiency cut-off, so the grey zone
        (B12, 133, "pmol/L", "b12-indeterminate", "info"),
        (B12, 132, "pmol/L", "b12-deficiency", "warning"),
        # potassium and sodium at whole numbers
        (K, 6, "mmol/L", "electrolyte-imbalance", "warning"),
        (K, 2, "mmol/L", "electrolyte-imbalance", "critical"),
        (K, 7, "mmol/L", "electrolyte-imbalance", "critical"),
        (NA, 120, "mmol/L", "electrolyte-imbalance", "critical"),
    ],
)
def test_a_value_is_judged_as_reported_against_the_cut_off_at_its_stated_precision(
    loinc, value, unit, topic, severity
):
    found = finding(run(chart([obs(loinc, value, unit, "2026-10-30")])), topic)
    assert (found.severity if found else None) == severity


def test_the_cut_off_is_shown_in_the_unit_it_was_judged_in_at_the_stated_precision():
    low = finding(run(chart([obs(MG_MASS, 1, "mg/dL", "2026-10-30")])), "hypomagnesemia")
    assert low.primary.cutoff == "< 1.2 mg/dL"
    calcium = finding(run(chart([obs(CA_MASS, 8, "mg/dL", "2026-10-30")])), "hypocalcemia")
    assert calcium.primary.cutoff == "< 8.50 mg/dL"
    ionized = finding(run(chart([obs("1995-0", 0.9, "mmol/L", "2026-10-30")])), "hypocalcemia")
    assert ionized.primary.cutoff == "< 1.00 mmol/L"  # the guideline's 1.00, not "1"


# ---------------------------------------------------------------- 4. text bounds
def text_obs(loinc: str, text: str, reference_unit: str | None = None, quantity_unit: str | None = None):
    """A result written as text; its unit, if not in the text, in the reference range or in a
    valueQuantity that carries a unit but no value (as some interfaces send them)."""
    resource = obs(loinc, 0, None, "2026-10-30")
    del resource["valueQuantity"]
    resource["valueString"] = text
    if quantity_unit is not None:
        resource["valueQuantity"] = {"unit": quantity_unit}
    if reference_unit is not None:
        resource["referenceRange"] = [{"low": {"value": 180, "unit": reference_unit}}]
    return resource


@pytest.mark.parametrize(
    ("text", "reference_unit", "topic", "severity"),
    [
        (">2000 pg/mL", None, "b12-elevated", "warning"),
        (">2000*.", "pg/mL", "b12-elevated", "warning"),
        ("GREATER THAN 2000.", "pg/mL", "b12-elevated", "warning"),
        ("<150", "pg/mL", "b12-deficiency", "warning"),
        ("< 25 pmol/L", None, "b12-deficiency", "warning"),  # 25 pmol/L is about 34 ng/L
        ("<200", "pg/mL", "b12-indeterminate", "info"),  # below 350 but open against 180
        (">2000", "value-less valueQuantity", "b12-elevated", "warning"),
    ],
)
def test_a_result_beyond_the_reporting_limit_is_a_bound(text, reference_unit, topic, severity):
    if reference_unit == "value-less valueQuantity":
        resource = text_obs(B12, text, quantity_unit="pg/mL")
    else:
        resource = text_obs(B12, text, reference_unit=reference_unit)
    result = run(chart([resource]))
    found = finding(result, topic)
    assert found is not None and found.severity == severity
    assert "result-unreadable" not in topics(result)  # never a wasted repeat


def test_a_text_bound_without_a_unit_anywhere_is_set_aside_as_before():
    result = run(chart([text_obs(B12, ">2000")]))
    assert topics(result) == ["result-unreadable"]


def test_an_undecided_bound_says_why():
    found = finding(run(chart([text_obs(B12, "<200", reference_unit="pg/mL")])), "b12-indeterminate")
    assert "cannot tell whether it is below" in found.primary.note


# ---------------------------------------------------------------- 6. unknown status
def unknown(**coding: str) -> dict[str, Any]:
    return med("MedicationStatement", status="unknown", **coding)


@pytest.mark.parametrize("drug", [{"rxnorm": "6809"}, {"rxnorm": "7646"}, {"text": "famotidine 20 mg"}])
def test_a_b12_lowering_medicine_of_unknown_status_asks_for_the_test_and_what_to_confirm(drug):
    found = finding(run(chart(statements=[unknown(**drug)])), "b12-testing-recommended")
    assert [t.key for t in found.tests] == ["b12_total"]
    assert "confirm-medication" in found.notes
    assert "confirm it is taken" in found.causes[0].display


def test_a_low_b12_with_a_b12_product_of_unknown_status_offers_no_treatment():
    result = run(chart([obs(B12, 120, "pg/mL")], statements=[unknown(rxnorm="11248")]))
    assert finding(result, "b12-deficiency").treatments == ()


# ---------------------------------------------------------------- 7. smaller items
@pytest.mark.parametrize(
    "system",
    [
        "https://ehr.example.org/codes/ICD-10-CM",
        "urn:hospital:icd10",
        "http://example.org/fhir/CodeSystem/icd_10",
    ],
)
def test_a_diagnosis_coded_in_icd10_under_a_local_system_is_matched_by_its_code(system):
    [match] = [c for c in run(chart(conditions=[cond("R25.3", system)])).facts.conditions]
    assert (match.member, match.matched_by) == ("fasciculation", "icd10")


def test_icd10_pcs_is_not_read_as_a_diagnosis():
    assert run(chart(conditions=[cond("R25.3", "https://ehr.example.org/ICD-10-PCS")])).facts.conditions == ()


@pytest.mark.parametrize(
    "broken",
    [
        {"comparator": ["<"]},  # a list where a string belongs
        {"comparator": "~"},  # an unknown comparator
        {"unit": {"text": "pg/mL"}},  # an object where a string belongs
        {"value": "150"},  # a string where a number belongs
    ],
)
def test_a_malformed_value_is_set_aside_with_a_named_reason(broken):
    resource = obs(B12, 150, "pg/mL", "2026-10-30")
    resource["valueQuantity"].update(broken)
    facts = run(chart([resource])).facts
    assert facts.labs.get("b12_total", ()) == ()
    [item] = [s for s in facts.set_aside if s.reference == f"Observation/{resource['id']}"]
    assert item.reason


def test_other_patients_unknown_status_records_are_ignored():
    other = med("MedicationStatement", rxnorm="6809", status="unknown")
    other["subject"] = {"reference": "Patient/someone-else"}
    assert topics(run(chart(statements=[other]))) == []


# ---------------------------------------------------------------- goals of care (issue 26.4)
@pytest.mark.parametrize(
    ("code", "kept"), [("Z66", ["hypomagnesemia"]), ("Z51.5", ["hypomagnesemia"]), (None, None)]
)
def test_goals_of_care_on_record_leave_only_critical_cards(code, kept):
    labs = [obs("2601-3", 0.4, "mmol/L", "2026-10-30"), obs(NA, 132, "mmol/L", "2026-10-30")]
    conditions = [cond("R25.3"), *([cond(code)] if code else [])]
    found = topics(run(chart(labs, conditions=conditions)))
    if kept is None:
        assert len(found) > 1  # without them the warnings and info cards are there
    else:
        assert found == kept
        [critical] = run(chart(labs, conditions=conditions)).findings
        assert critical.notes[0] == "goals-of-care" and critical.tests == ()
