"""The safety check's look at the medication list treats an ended "active" record as history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.engine.guard import already_taking_b12
from tests.engine.guard_helpers import KNOWLEDGE, facts_of

NOW = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)


def _record(kind: str, **dates: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Cyanocobalamin 1000 mcg"},
    }
    resource.update(dates)
    return resource


def _taking(resource: dict[str, Any]) -> bool:
    key = "medicationRequests" if resource["resourceType"] == "MedicationRequest" else "medicationStatements"
    bundle = {"resourceType": "Bundle", "entry": [{"resource": resource}]}
    return already_taking_b12(facts_of({key: bundle}, NOW), KNOWLEDGE)


@pytest.mark.parametrize(
    ("resource", "taking"),
    [
        (_record("MedicationStatement"), True),
        (_record("MedicationStatement", effectivePeriod={"end": "2023-10-01"}), False),
        (_record("MedicationStatement", effectivePeriod={"end": "2027-01-01"}), True),
        (_record("MedicationStatement", effectivePeriod={"end": "2026-10-15"}), True),
        # a dateTime ends at its instant, as the engine reads it (NOW is 09:30 UTC that day)
        (_record("MedicationStatement", effectivePeriod={"end": "2026-10-15T08:00:00Z"}), False),
        (_record("MedicationStatement", effectivePeriod={"end": "2026-10-15T11:00:00Z"}), True),
        (_record("MedicationStatement", effectivePeriod={"end": "2026-10-15T11:00:00+03:00"}), False),
        (_record("MedicationRequest", dispenseRequest={"validityPeriod": {"end": "2024-01-01"}}), False),
        (
            _record(
                "MedicationRequest",
                dispenseRequest={"validityPeriod": {"end": "2024-01-01"}},
                dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"end": "2027-01-01"}}}}],
            ),
            True,  # the dates disagree: still counted, so nothing is offered
        ),
        (_record("MedicationStatement", effectivePeriod={"end": "garbage"}), True),
        # a record that cannot be read but whose name says B12 still counts
        (_record("MedicationStatement", dosage="not a list"), True),
    ],
)
def test_ended_active_records_do_not_count_as_taking_b12(resource: dict[str, Any], taking: bool) -> None:
    assert _taking(resource) is taking
