"""A chart can be opened after death: a deceased patient gets no findings at all."""

from __future__ import annotations

import pytest

from cds.engine import assess_orders
from tests.engine.engine_fhir import KNOWLEDGE, NOW, PID, bundle, chart, med, obs, run, topics


def _patient_chart(**patient_fields):
    resources = chart([obs("2132-9", 120, "pg/mL")], meds=[med(rxnorm="6809")])
    resources["patient"].update(patient_fields)
    return resources


@pytest.mark.parametrize(
    ("fields", "deceased"),
    [
        ({}, False),
        ({"deceasedBoolean": False}, False),
        ({"deceasedBoolean": True}, True),
        ({"deceasedDateTime": "2026-09-30T10:00:00Z"}, True),
        ({"deceasedDateTime": "2026"}, True),
        ({"deceasedBoolean": "true"}, False),  # not a boolean: not taken as a death
    ],
)
def test_no_findings_for_a_deceased_patient(fields, deceased):
    result = run(_patient_chart(**fields))
    assert result.facts.deceased is deceased
    assert (topics(result) == []) is deceased
    if not deceased:
        assert "b12-deficiency" in topics(result)


def test_no_order_findings_for_a_deceased_patient():
    draft = bundle(med(rxnorm="11248", status="draft"))
    on_b12 = [med("MedicationStatement", rxnorm="11248")]
    alive = assess_orders(chart(statements=on_b12), draft, PID, NOW, KNOWLEDGE)
    resources = chart(statements=on_b12)
    resources["patient"]["deceasedDateTime"] = "2026-10-01"
    dead = assess_orders(resources, draft, PID, NOW, KNOWLEDGE)
    assert alive.findings
    assert dead.findings == ()
