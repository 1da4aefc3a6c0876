"""Unknown age is not adult age: no dose-bearing options, and the card says the age is unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.engine.engine_fhir import PID, chart, finding, obs, run


def _with_patient(patient: dict[str, Any] | None) -> dict[str, Any]:
    resources = chart([obs("2132-9", 120, "pg/mL")])
    if patient is None:
        del resources["patient"]
    else:
        resources["patient"] = patient
    return resources


@pytest.mark.parametrize(
    ("label", "patient"),
    [
        ("no birthDate", {"resourceType": "Patient", "id": PID}),
        ("empty birthDate", {"resourceType": "Patient", "id": PID, "birthDate": ""}),
        ("birthDate not a date", {"resourceType": "Patient", "id": PID, "birthDate": "unknown"}),
        ("birthDate in the future", {"resourceType": "Patient", "id": PID, "birthDate": "2031-01-01"}),
        ("no Patient resource", None),
        ("another patient's resource", {"resourceType": "Patient", "id": "p2", "birthDate": "1960-01-01"}),
    ],
)
def test_unknown_age_gets_no_doses_and_says_so(label, patient):
    deficiency = finding(run(_with_patient(patient)), "b12-deficiency")
    assert deficiency is not None, label
    assert deficiency.treatments == ()
    assert any(g.item == "Age" and "unknown" in g.reason for g in deficiency.gaps)


@pytest.mark.parametrize("birth_date", ["1960-01-01", "1960"])
def test_known_adult_age_gets_the_options(birth_date):
    resources = _with_patient({"resourceType": "Patient", "id": PID, "birthDate": birth_date})
    deficiency = finding(run(resources), "b12-deficiency")
    assert [t.key for t in deficiency.treatments] == ["b12-oral", "b12-sublingual", "b12-im"]
    assert not any(g.item == "Age" for g in deficiency.gaps)


@pytest.mark.parametrize(
    ("birth_date", "doses"),
    [
        ("2008", False),  # may still be 17 (born in December 2008)
        ("2008-12", False),
        ("2008-11", False),  # born 26-30 November 2008 is still 17 on 2026-11-25
        ("2008-10", True),  # 18 whatever the day
        ("2008-11-25", True),  # 18 today
        ("2008-11-26", False),  # 18 tomorrow
        ("2007", True),
    ],
)
def test_a_partial_birth_date_counts_from_its_last_possible_day(birth_date, doses):
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    deficiency = finding(
        run(chart([obs("2132-9", 120, "pg/mL", "2026-11-20")], birth_date=birth_date), now=now),
        "b12-deficiency",
    )
    assert bool(deficiency.treatments) is doses


@pytest.mark.parametrize(
    ("birth_date", "shown"),
    [
        ("2008", "17 or 18 years:"),  # born in 2008: 17 until December, 18 from January
        ("2008-11", "17 or 18 years:"),
        ("2008-12", "17 years:"),  # a whole month still ahead: 17 whatever the day
        ("2008-12-01", "17 years:"),
        ("2012", "13 or 14 years:"),
    ],
)
def test_a_partial_birth_date_shows_the_range_of_ages(birth_date, shown):
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    deficiency = finding(
        run(chart([obs("2132-9", 120, "pg/mL", "2026-11-20")], birth_date=birth_date), now=now),
        "b12-deficiency",
    )
    reasons = [g.reason for g in deficiency.gaps if g.item == "Age"]
    assert len(reasons) == 1 and reasons[0].startswith(shown), reasons
    assert deficiency.treatments == ()


@pytest.mark.parametrize(
    ("birth_date", "cause"), [("1960", "Age 65 or 66"), ("1960-06", "Age 66"), ("1961", None)]
)
def test_an_older_age_cause_shows_the_range(birth_date, cause):
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    deficiency = finding(
        run(chart([obs("2132-9", 120, "pg/mL", "2026-11-20")], birth_date=birth_date), now=now),
        "b12-deficiency",
    )
    ages = [c.display for c in deficiency.causes if c.kind == "age"]
    assert ages == ([cause] if cause else [])
