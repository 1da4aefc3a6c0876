"""Low potassium in a patient on digoxin: the card says what makes it dangerous."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import chart, finding, med, obs, run

DIGOXIN = med(rxnorm="3407")
DIGOXIN_STOPPED = med(rxnorm="3407", status="stopped")


@pytest.mark.parametrize(
    ("labs", "meds", "warned"),
    [
        ([obs("2823-3", 3.2, "mmol/L")], [DIGOXIN], True),
        ([obs("2823-3", 2.4, "mmol/L")], [DIGOXIN], True),
        ([obs("2823-3", 3.2, "mmol/L")], [], False),
        ([obs("2823-3", 3.2, "mmol/L")], [DIGOXIN_STOPPED], False),
        ([obs("2823-3", 5.8, "mmol/L")], [DIGOXIN], False),
        ([obs("2951-2", 130, "mmol/L")], [DIGOXIN], False),
    ],
)
def test_low_potassium_on_digoxin_names_the_risk(labs, meds, warned):
    found = finding(run(chart(labs, meds=meds)), "electrolyte-imbalance")
    assert found is not None
    assert ("potassium-digoxin" in found.notes) is warned
    assert any(c.key == "digoxin" for c in found.on_record) is warned
    assert not any(c.key == "digoxin" for c in found.causes)  # digoxin does not lower potassium
