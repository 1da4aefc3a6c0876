"""Status and dates must both say current: ended "active" therapy is history, not current.

NOW in these tests is 2026-11-01.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.engine_fhir import PID, RXNORM, chart, finding, med, obs, run, topics

B12 = "2132-9"
LOW_B12 = obs(B12, 120, "pg/mL")


def statement(
    *, end: str | None = None, bounds_end: str | None = None, status: str = "active"
) -> dict[str, Any]:
    resource = med("MedicationStatement", rxnorm="11248", status=status, start="2020-01-01", end=end)
    if bounds_end:
        resource["dosage"] = [{"timing": {"repeat": {"boundsPeriod": {"end": bounds_end}}}}]
    return resource


def request(*, validity_end: str | None = None, bounds_end: str | None = None) -> dict[str, Any]:
    resource = med(rxnorm="11248", start="2020-01-01", end=validity_end)
    if bounds_end:
        resource["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"end": bounds_end}}}}]
    return resource


@pytest.mark.parametrize(
    ("record", "state"),
    [
        (statement(), "current"),  # no end date: status decides
        (statement(end="2023-11-01"), "past"),  # ended three years ago
        (statement(end="2026-10-31"), "past"),  # ended yesterday
        (statement(end="2026-11-01"), "current"),  # a date runs to the end of its day
        (statement(end="2026-11-01T11:00:00Z"), "past"),  # an instant an hour ago
        (statement(end="2027-05-01"), "current"),  # planned end still ahead
        (statement(bounds_end="2024-01-01"), "past"),  # dosage bounds ended
        (statement(end="2024-01-01", bounds_end="2027-01-01"), "uncertain"),  # dates disagree
        (statement(end="2023-01-01", status="completed"), "past"),
        (statement(end="2027-01-01", status="stopped"), "past"),  # an explicit stop stands
        (request(validity_end="2023-06-30"), "past"),  # prescription expired
        (request(validity_end="2027-06-30"), "current"),
        (request(bounds_end="2022-01-01"), "past"),
        (request(validity_end="2024-01-01", bounds_end="2027-01-01"), "uncertain"),
        (request(validity_end="not a date"), "current"),  # unreadable end: status decides
    ],
)
def test_state_from_status_and_dates(record, state):
    uses = run(
        chart(
            meds=[record] if record["resourceType"] == "MedicationRequest" else [],
            statements=[record] if record["resourceType"] == "MedicationStatement" else [],
        )
    ).facts.medications
    assert [u.state for u in uses] == [state]


def test_ended_active_b12_does_not_withhold_treatment_and_is_shown_as_history():
    result = run(chart([LOW_B12], statements=[statement(end="2023-11-01")]))
    assert topics(result) == ["b12-deficiency"]
    deficiency = finding(result, "b12-deficiency")
    assert [t.key for t in deficiency.treatments] == ["b12-oral", "b12-sublingual", "b12-im"]
    assert any("recorded until 2023-11-01" in g.reason for g in deficiency.gaps)
    assert finding(result, "b12-treatment-monitoring") is None


def test_current_b12_still_means_no_second_course():
    result = run(chart([LOW_B12], statements=[statement(end="2027-05-01")]))
    assert finding(result, "b12-deficiency") is None
    assert finding(result, "b12-treatment-monitoring") is not None


def test_disagreeing_dates_withhold_treatment_and_say_what_to_confirm():
    result = run(chart([LOW_B12], meds=[request(validity_end="2024-01-01", bounds_end="2027-01-01")]))
    deficiency = finding(result, "b12-deficiency")
    assert deficiency.treatments == ()
    reasons = " ".join(g.reason for g in deficiency.gaps)
    assert "prescription valid until 2024-01-01" in reasons
    assert "confirm whether it is still taken" in reasons


def test_ended_active_metformin_no_longer_prompts_a_b12_test():
    metformin = med(rxnorm="6809", start="2018-01-01", end="2022-01-01")
    assert "b12-testing-recommended" not in topics(run(chart(meds=[metformin])))
    current = med(rxnorm="6809", start="2018-01-01")
    assert "b12-testing-recommended" in topics(run(chart(meds=[current])))


@pytest.mark.parametrize(
    ("concept", "counted"),
    [
        ({"coding": [{"system": RXNORM, "code": "99999999"}]}, 1),  # unknown code, no name
        ({"coding": [{"system": RXNORM, "code": "99999999", "display": "Lisinopril 10 MG"}]}, 0),
        ({"text": "Something unlisted"}, 0),  # a name the clinician can read
        ({"coding": [{"system": RXNORM, "code": "11248"}]}, 0),  # known: it is B12
    ],
)
def test_unidentified_current_medicines_are_counted_on_a_treatment_card(concept, counted):
    other = med(rxnorm="1")
    other["medicationCodeableConcept"] = concept
    result = run(chart([LOW_B12], meds=[other]))
    assert len(result.facts.unidentified_medications) == counted
    deficiency = finding(result, "b12-deficiency")
    if counted:
        assert deficiency is not None and deficiency.treatments
        assert any(
            f"{counted} current medication record could not be identified" in g.reason
            for g in deficiency.gaps
        )
    elif deficiency is not None:
        assert not any("could not be identified" in g.reason for g in deficiency.gaps)


def test_codes_longer_than_a_real_code_are_not_looked_up():
    long_code = "6809" + "0" * 200
    assert run(chart(meds=[med(rxnorm=long_code)])).facts.medications == ()
    assert PID  # the chart builder's patient
