"""Lab normalisation: units, comparators, status, subject, dates and recency."""

from __future__ import annotations

import math

import pytest

from cds.engine.compare import above, below
from cds.reader import LabResult
from cds.reader.dates import months_before, parse_when
from tests.engine.engine_fhir import KNOWLEDGE, NOW, PID, bundle, chart, obs, run

WHEN = parse_when("2026-10-01")


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "analyte", "expected"),
    [
        ("2132-9", 200, "pg/mL", "b12_total", 200.0),
        ("2132-9", 200, "ng/L", "b12_total", 200.0),
        ("14685-2", 100, "pmol/L", "b12_total", 135.5),
        ("72160-5", 30, "pmol/L", "holotc", 30.0),
        ("13964-2", 350, "nmol/L", "mma", 0.35),
        ("13964-2", 0.35, "umol/L", "mma", 0.35),
        ("13964-2", 0.35, "\u00b5mol/L", "mma", 0.35),
        ("13965-9", 12, "umol/L", "homocysteine", 12.0),
        ("17861-6", 8.5, "mg/dL", "calcium_total", 8.5 / 4.008),
        ("2000-8", 2.3, "mmol/L", "calcium_total", 2.3),
        ("2000-8", 4.6, "mEq/L", "calcium_total", 2.3),
        ("2000-8", 4.6, "meq/L", "calcium_total", 2.3),
        ("1995-0", 4.5, "mg/dL", "calcium_ionized", 4.5 / 4.008),
        ("1994-3", 1.2, "mmol/L", "calcium_ionized", 1.2),
        ("29265-6", 2.2, "mmol/L", "calcium_corrected", 2.2),
        ("1751-7", 3.5, "g/dL", "albumin", 35.0),
        ("1751-7", 35, "g/L", "albumin", 35.0),
        ("19123-9", 1.7, "mg/dL", "magnesium", 1.7 / 2.431),
        ("2601-3", 0.8, "mmol/L", "magnesium", 0.8),
        ("2601-3", 1.6, "mEq/L", "magnesium", 0.8),
        ("2823-3", 4.0, "mEq/L", "potassium", 4.0),
        ("6298-4", 4.0, "mmol/L", "potassium", 4.0),
        ("2951-2", 140, "mmol/L", "sodium", 140.0),
        ("2947-0", 140, "mEq/L", "sodium", 140.0),
    ],
)
def test_every_unit_spelling_converts_to_the_canonical_unit(loinc, value, unit, analyte, expected):
    facts = run(chart([obs(loinc, value, unit)])).facts
    result = facts.latest(analyte)
    assert result is not None
    assert math.isclose(result.value, expected, rel_tol=1e-9)
    assert result.unit == KNOWLEDGE.labs[analyte].unit


def test_ucum_code_is_used_when_the_display_unit_is_missing():
    facts = run(chart([obs("2132-9", 150, None, code="pg/mL")])).facts
    assert facts.latest("b12_total").value == 150


@pytest.mark.parametrize(
    ("unit", "code", "reason_part"),
    [
        ("mcg/dL", None, "unit 'mcg/dL' not recognised"),
        (None, None, "no unit"),
        ("mg/dL", None, "not recognised for Vitamin B12"),  # a calcium unit on a B12 result
        ("pg/mL", "pmol/L", "disagree"),
    ],
)
def test_unknown_or_conflicting_units_are_set_aside_never_guessed(unit, code, reason_part):
    facts = run(chart([obs("2132-9", 120, unit, code=code, ident="b")])).facts
    assert facts.latest("b12_total") is None
    assert [(s.reference, s.analyte) for s in facts.set_aside] == [("Observation/b", "b12_total")]
    assert reason_part in facts.set_aside[0].reason


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("150", "field 'valueQuantity.value': expected a number, got text"),
        (float("nan"), "not a finite number"),
        (float("inf"), "finite"),
        (True, "field 'valueQuantity.value': expected a number, got true or false"),
        (-3, "negative"),
        (10**400, "field 'valueQuantity.value': number out of range"),
    ],
)
def test_values_that_are_not_finite_numbers_are_set_aside(value, reason_part):
    facts = run(chart([obs("2132-9", value, "pg/mL")])).facts
    assert facts.latest("b12_total") is None
    assert reason_part in facts.set_aside[0].reason


@pytest.mark.parametrize(
    ("status", "used", "set_aside"),
    [
        ("final", True, False),
        ("amended", True, False),
        ("corrected", True, False),
        ("preliminary", True, False),
        ("entered-in-error", False, False),
        ("cancelled", False, False),
        ("registered", False, True),
    ],
)
def test_observation_status(status, used, set_aside):
    facts = run(chart([obs("2132-9", 150, "pg/mL", status=status)])).facts
    assert (facts.latest("b12_total") is not None) is used
    assert bool(facts.set_aside) is set_aside


def test_preliminary_result_counts_but_is_flagged():
    result = run(chart([obs("2132-9", 150, "pg/mL", status="preliminary")]))
    deficiency = result.findings[0]
    assert deficiency.primary.status == "preliminary"
    assert "preliminary-result" in deficiency.notes


@pytest.mark.parametrize(
    ("subject", "used", "set_aside"),
    [
        ({"reference": "Patient/p1"}, True, False),
        ({"reference": "https://ehr.example/fhir/Patient/p1"}, True, False),
        ({"reference": "Patient/p1/_history/3"}, True, False),
        ({"reference": "Patient/p2"}, False, False),
        ({"reference": "https://ehr.example/fhir/Patient/p12"}, False, False),
        ({"reference": "Group/p1"}, False, False),
        ({"reference": "urn:uuid:abc"}, False, False),
        (None, False, True),
        ({"display": "someone"}, False, True),
    ],
)
def test_only_the_context_patients_results_are_used(subject, used, set_aside):
    facts = run(chart([obs("2132-9", 150, "pg/mL", subject=subject)])).facts
    assert (facts.latest("b12_total") is not None) is used
    assert bool(facts.set_aside) is set_aside


def test_urn_uuid_subject_matches_the_patient_full_url():
    resources = chart([obs("2132-9", 150, "pg/mL", subject={"reference": "urn:uuid:abc"})])
    resources["patient"] = {
        "resourceType": "Bundle",
        "entry": [{"fullUrl": "urn:uuid:abc", "resource": {"resourceType": "Patient", "id": PID}}],
    }
    assert run(resources).facts.latest("b12_total") is not None


def test_other_patients_data_never_produces_a_finding():
    resources = chart([obs("2132-9", 90, "pg/mL", subject={"reference": "Patient/p2"})])
    assert run(resources).findings == ()


@pytest.mark.parametrize(
    ("comparator", "value", "cutoff", "is_below", "is_above"),
    [
        (None, 179.9, 180, True, False),
        (None, 180, 180, False, False),
        (None, 180.1, 180, False, True),
        ("<", 150, 180, True, False),
        ("<", 180, 180, True, False),
        ("<", 200, 180, None, None),
        ("<=", 180, 180, None, False),
        ("<=", 179, 180, True, False),
        (">", 1000, 1000, False, True),
        (">", 900, 1000, None, None),
        (">=", 1000, 1000, False, None),
        (">=", 1001, 1000, False, True),
    ],
)
def test_comparators_are_honoured(comparator, value, cutoff, is_below, is_above):
    key = {180: "b12_total_deficient", 1000: "b12_elevated"}[cutoff]
    result = LabResult("b12_total", "2132-9", "Observation/1", "final", WHEN, value, "ng/L", value, "ng/L",
                       1.0, comparator)  # fmt: skip
    assert below(result, key, KNOWLEDGE) is is_below
    assert above(result, key, KNOWLEDGE) is is_above


def test_most_recent_result_wins_and_same_day_ties_are_deterministic():
    older = obs("2132-9", 100, "pg/mL", "2026-09-01")
    newer = obs("2132-9", 600, "pg/mL", "2026-10-01")
    assert run(chart([newer, older])).facts.latest("b12_total").value == 600
    assert run(chart([older, newer])).facts.latest("b12_total").value == 600
    # same instant, agreeing (both below 180): a stable tie-break keeps one
    a = obs("2132-9", 100, "pg/mL", "2026-10-01", ident="a")
    b = obs("2132-9", 120, "pg/mL", "2026-10-01", ident="b")
    assert (
        run(chart([a, b])).facts.latest("b12_total").reference
        == run(chart([b, a])).facts.latest("b12_total").reference
    )


def test_time_zones_are_compared_as_instants():
    early = obs("2132-9", 100, "pg/mL", "2026-10-01T23:00:00-05:00")  # 04:00Z on the 2nd
    late = obs("2132-9", 600, "pg/mL", "2026-10-02T02:00:00Z")
    assert run(chart([late, early])).facts.latest("b12_total").value == 100


@pytest.mark.parametrize(
    ("date", "recent"), [("2025-11-01", True), ("2025-10-31", False), ("2026-10-31", True)]
)
def test_results_older_than_the_window_are_stale(date, recent):
    result = run(chart([obs("2132-9", 150, "pg/mL", date)]))
    assert ("b12-deficiency" in [f.topic for f in result.findings]) is recent


def test_recent_window_is_configurable():
    from cds.knowledge import load_knowledge

    result = run(
        chart([obs("2132-9", 150, "pg/mL", "2025-06-01")]), knowledge=load_knowledge(recent_months=24)
    )
    assert result.findings[0].topic == "b12-deficiency"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("effectivePeriod", {"start": "2026-10-01"}),
        ("effectiveInstant", "2026-10-01T10:00:00Z"),
        ("issued", "2026-10-01T10:00:00+02:00"),
    ],
)
def test_effective_time_fallbacks(field, value):
    resource = obs("2132-9", 150, "pg/mL")
    del resource["effectiveDateTime"]
    resource[field] = value
    assert run(chart([resource])).facts.latest("b12_total") is not None


def test_result_without_a_date_or_in_the_future_is_set_aside():
    undated = obs("2132-9", 150, "pg/mL")
    del undated["effectiveDateTime"]
    future = obs("2132-9", 150, "pg/mL", "2027-01-01")
    facts = run(chart([undated, future])).facts
    assert facts.latest("b12_total") is None
    assert sorted(s.reason.split(" (")[0] for s in facts.set_aside) == [
        "dated in the future",
        "no usable date",
    ]


def test_dates_and_month_arithmetic():
    assert parse_when("2026-10").day.isoformat() == "2026-10-01"
    assert parse_when("2026-13-01") is None
    assert parse_when(12) is None
    assert months_before(NOW.replace(month=3, day=31), 1).isoformat() == "2026-02-28"


def test_bundle_entries_without_resource_and_unknown_types_are_skipped():
    resources = chart([obs("2132-9", 150, "pg/mL")])
    resources["observations"]["entry"] += [{}, {"resource": None}, {"resource": {"resourceType": "Basic"}}, 5]
    assert run(resources).findings[0].topic == "b12-deficiency"


def test_duplicate_resource_in_two_bundles_counts_once():
    b12 = obs("2132-9", 150, "pg/mL", ident="dup")
    resources = chart([b12])
    resources["conditions"] = bundle(b12)
    assert len(run(resources).facts.labs["b12_total"]) == 1


def test_bundle_entries_keep_their_full_url_and_a_malformed_entry_is_named():
    from cds.reader import decode
    from cds.reader.chart import entries_of

    first = {"resourceType": "Observation", "id": "a"}
    second = {"resourceType": "Observation", "id": "b"}
    payload = {
        "resourceType": "Bundle",
        "entry": [{"resource": first, "fullUrl": "urn:uuid:1"}, {"resource": second, "fullUrl": 7}],
    }
    decoded = decode(payload)
    [entry] = entries_of(decoded.resource)
    assert entry.fullUrl == "urn:uuid:1" and entry.resource is not None and entry.resource.id == "a"
    [unreadable] = decoded.unreadable
    assert (unreadable.resource_type, unreadable.ident) == ("Observation", "b")
    assert unreadable.reason == "field 'fullUrl': expected text, got a whole number"
