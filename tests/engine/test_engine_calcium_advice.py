"""The low-calcium card's advice fits the result it reads: no "confirm with ionized calcium" on
an ionized result, no "check magnesium" when a recent magnesium is normal."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import chart, finding, obs, run

IONIZED_LOW = obs("1995-0", 1.05, "mmol/L")
CORRECTED_LOW = obs("29265-6", 2.0, "mmol/L")
TOTAL_LOW_WITH_ALBUMIN = [obs("2000-8", 1.95, "mmol/L"), obs("1751-7", 40, "g/L")]
MG_NORMAL = obs("2601-3", 0.85, "mmol/L")
MG_LOW = obs("2601-3", 0.6, "mmol/L")


@pytest.mark.parametrize(
    ("labs", "confirm_ionized", "check_magnesium"),
    [
        ([IONIZED_LOW], False, True),
        ([IONIZED_LOW, MG_NORMAL], False, False),
        ([CORRECTED_LOW], True, True),
        ([CORRECTED_LOW, MG_NORMAL], True, False),
        ([CORRECTED_LOW, MG_LOW], True, True),
        (TOTAL_LOW_WITH_ALBUMIN, True, True),
    ],
)
def test_low_calcium_advice_fits_the_result(labs, confirm_ionized, check_magnesium):
    found = finding(run(chart(labs)), "hypocalcemia")
    assert found is not None
    assert ("calcium-confirm-ionized" in found.advice) is confirm_ionized
    assert ("calcium-check-magnesium" in found.advice) is check_magnesium
    assert "calcium-urgent-if-severe" in found.advice
