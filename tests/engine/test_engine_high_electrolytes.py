"""High potassium and sodium: flagged, critical beyond the severe cut-off, with advice that fits."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import chart, finding, med, obs, run, topics

K, NA = "2823-3", "2951-2"


@pytest.mark.parametrize(
    ("observations", "severity", "title"),
    [
        ([obs(K, 5.5, "mmol/L")], None, None),  # on the cut-off: not above it
        ([obs(K, 5.6, "mmol/L")], "warning", "High potassium"),
        ([obs(K, 6.4, "mmol/L")], "warning", "High potassium"),
        ([obs(K, 6.5, "mmol/L")], "critical", "Severely high potassium"),  # at or above 6.5
        ([obs(K, 7.2, "mEq/L")], "critical", "Severely high potassium"),
        ([obs(K, 6.0, "mmol/L", comparator=">")], "warning", "High potassium"),
        ([obs(K, 7.0, "mmol/L", comparator="<")], None, None),  # "<7": may be normal
        ([obs(NA, 145, "mmol/L")], None, None),
        ([obs(NA, 146, "mmol/L")], "warning", "High sodium"),
        ([obs(NA, 160, "mmol/L")], "warning", "High sodium"),
        ([obs(NA, 161, "mmol/L")], "critical", "Severely high sodium"),
        (
            [obs(K, 7.0, "mmol/L"), obs(NA, 150, "mmol/L")],
            "critical",
            "Severely high potassium and high sodium",
        ),
        (
            [obs(K, 3.0, "mmol/L"), obs(NA, 162, "mmol/L")],
            "critical",
            "Severely high sodium and low potassium",
        ),
        ([obs(K, 4.5, "mmol/L"), obs(NA, 140, "mmol/L")], None, None),
    ],
)
def test_high_values_are_flagged_and_graded(observations, severity, title):
    found = finding(run(chart(observations)), "electrolyte-imbalance")
    if severity is None:
        assert found is None
    else:
        assert (str(found.severity), found.title) == (severity, title)


@pytest.mark.parametrize(
    ("observations", "advice"),
    [
        ([obs(K, 7.0, "mmol/L")], ("potassium-high-urgent", "electrolytes-review-causes")),
        ([obs(K, 2.2, "mmol/L")], ("potassium-low-urgent", "electrolytes-review-causes")),
        ([obs(NA, 165, "mmol/L")], ("sodium-severe-slowly", "electrolytes-review-causes")),
        ([obs(NA, 120, "mmol/L")], ("sodium-severe-slowly", "electrolytes-review-causes")),
        ([obs(K, 5.8, "mmol/L")], ()),  # not critical: the routine advice stays
        ([obs(NA, 150, "mmol/L")], ()),
    ],
)
def test_a_critical_card_carries_urgent_advice_that_fits_it(observations, advice):
    assert finding(run(chart(observations)), "electrolyte-imbalance").advice == advice


def _notes(value: float) -> tuple[str, ...]:
    return finding(run(chart([obs(K, value, "mmol/L")])), "electrolyte-imbalance").notes


def test_a_mildly_high_potassium_warns_of_a_haemolysed_sample():
    assert "potassium-haemolysis" in _notes(5.9)
    assert "potassium-haemolysis" not in _notes(3.1)


def test_diuretics_are_not_listed_as_the_cause_of_a_high_value():
    thiazide = med(rxnorm="5487")  # hydrochlorothiazide lowers potassium and sodium; it does not raise them
    assert finding(run(chart([obs(K, 6.0, "mmol/L")], meds=[thiazide])), "electrolyte-imbalance").causes == ()
    low = finding(run(chart([obs(K, 3.0, "mmol/L")], meds=[thiazide])), "electrolyte-imbalance")
    assert [c.key for c in low.causes] == ["thiazide-diuretic"]


def test_high_sodium_alone_gives_one_card():
    assert topics(run(chart([obs(NA, 152, "mmol/L")]))) == ["electrolyte-imbalance"]
