"""What a clinician reads: durations in words, dates as dates, causes that are causes."""

from __future__ import annotations

from datetime import date

import pytest

from cds.reader.dates import duration_words
from tests.engine.engine_fhir import chart, finding, med, obs, run


@pytest.mark.parametrize(
    ("start", "today", "words"),
    [
        (date(2026, 10, 20), date(2026, 11, 1), "less than a month"),
        (date(2026, 10, 1), date(2026, 11, 1), "1 month"),
        (date(2026, 5, 2), date(2026, 11, 1), "5 months"),
        (date(2025, 11, 1), date(2026, 11, 1), "1 year"),
        (date(2025, 8, 1), date(2026, 11, 1), "1 year 3 months"),
        (date(2021, 9, 1), date(2026, 11, 1), "about 5 years"),
        (date(2023, 11, 1), date(2026, 11, 1), "3 years"),
    ],
)
def test_durations_are_given_in_words(start, today, words):
    assert duration_words(start, today) == words


def test_a_medicine_start_is_shown_as_a_date_with_the_duration_in_words():
    metformin = med(rxnorm="6809", start="2026-10-20T14:35:00+02:00")
    testing = finding(run(chart(meds=[metformin])), "b12-testing-recommended")
    [cause] = testing.causes
    assert cause.display.endswith("(since 2026-10-20, less than a month)")


def test_a_calcium_test_comes_with_albumin_so_it_can_be_read():
    low_mg = obs("2601-3", 0.55, "mmol/L")
    keys = [t.key for t in finding(run(chart([low_mg])), "hypomagnesemia").tests]
    assert keys == ["potassium", "calcium", "albumin"]
    with_albumin = [low_mg, obs("1751-7", 40, "g/L", "2026-10-30")]
    keys = [t.key for t in finding(run(chart(with_albumin)), "hypomagnesemia").tests]
    assert keys == ["potassium", "calcium"]  # an albumin within the pairing window is on file


def test_b12_already_taken_is_on_record_not_a_likely_cause():
    therapy = med("MedicationStatement", rxnorm="11248", start="2026-06-01")
    metformin = med(rxnorm="6809", start="2020-01-01")
    monitoring = finding(
        run(chart([obs("2132-9", 150, "pg/mL")], meds=[metformin], statements=[therapy])),
        "b12-treatment-monitoring",
    )
    assert [c.key for c in monitoring.causes] == ["metformin"]
    assert [c.key for c in monitoring.on_record] == ["b12-therapy"]
