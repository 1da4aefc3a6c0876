"""High potassium and sodium: flagged, critical beyond the severe cut-off, with advice that fits."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import chart, cond, finding, med, obs, run, topics

K, NA = "2823-3", "2951-2"


@pytest.mark.parametrize(
    ("observations", "severity", "title"),
    [
        ([obs(K, 5.5, "mmol/L")], None, None),  # on the cut-off: not above it
        ([obs(K, 5.6, "mmol/L")], "info", "Slightly high potassium"),  # mild, no symptoms
        ([obs(K, 5.9, "mmol/L")], "info", "Slightly high potassium"),
        ([obs(K, 6.0, "mmol/L")], "warning", "Moderately high potassium"),
        ([obs(K, 6, "mmol/L")], "warning", "Moderately high potassium"),  # written without decimals
        ([obs(K, 6.4, "mmol/L")], "warning", "Moderately high potassium"),
        ([obs(K, 6.5, "mmol/L")], "critical", "Severely high potassium"),  # at or above 6.5
        ([obs(K, 7, "mmol/L")], "critical", "Severely high potassium"),
        ([obs(K, 7.2, "mEq/L")], "critical", "Severely high potassium"),
        ([obs(K, 6.0, "mmol/L", comparator=">")], "warning", "Moderately high potassium"),
        ([obs(K, 7.0, "mmol/L", comparator="<")], None, None),  # "<7": may be normal
        ([obs(K, 2, "mmol/L")], "critical", "Severely low potassium"),
        ([obs(NA, 145, "mmol/L")], None, None),
        ([obs(NA, 146, "mmol/L")], "warning", "High sodium"),
        ([obs(NA, 154, "mmol/L")], "warning", "High sodium"),
        ([obs(NA, 155, "mmol/L")], "warning", "Markedly high sodium"),
        ([obs(NA, 160, "mmol/L")], "warning", "Markedly high sodium"),
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
        ([obs(K, 7.0, "mmol/L")], ("potassium-severe-high-act",)),  # treat now, not "wait for the repeat"
        ([obs(K, 6.2, "mmol/L")], ("potassium-moderate-high-act",)),  # ECG, urgent repeat, stop K-raisers
        ([obs(K, 5.8, "mmol/L")], ("potassium-mild-high-repeat",)),
        ([obs(K, 2.2, "mmol/L")], ("potassium-severe-low-act",)),  # replace, ECG, magnesium, diuretics
        ([obs(K, 3.1, "mmol/L")], ("potassium-low-replace",)),
        ([obs(NA, 165, "mmol/L")], ("sodium-high-act",)),
        ([obs(NA, 158, "mmol/L")], ("sodium-high-act",)),  # free water, no faster than 10 mmol/L a day
        ([obs(NA, 150, "mmol/L")], ("sodium-high-fluids",)),
        ([obs(NA, 120, "mmol/L")], ("sodium-severe-slowly",)),
        ([obs(NA, 128, "mmol/L")], ("sodium-low-assess",)),
    ],
)
def test_each_grade_carries_the_management_its_guideline_calls_for(observations, advice):
    assert finding(run(chart(observations)), "electrolyte-imbalance").advice == advice


@pytest.mark.parametrize(
    ("code", "advice"),
    [("I50.9", "sodium-low-overload"), ("K74.60", "sodium-low-overload"), ("E22.2", "sodium-low-overload")],
)
def test_low_sodium_with_water_excess_on_record_is_not_treated_as_dehydration(code, advice):
    found = finding(run(chart([obs(NA, 128, "mmol/L")], conditions=[cond(code)])), "electrolyte-imbalance")
    assert found.advice == (advice,)
    # the condition that holds water is on record, where the advice points; not a "cause"
    assert [c.kind for c in found.on_record] == ["condition"] and found.causes == ()


def test_severely_low_potassium_offers_magnesium_when_none_is_recent():
    found = finding(run(chart([obs(K, 2.3, "mmol/L")])), "electrolyte-imbalance")
    assert [t.key for t in found.tests] == ["magnesium"]
    with_mg = finding(
        run(chart([obs(K, 2.3, "mmol/L"), obs("2601-3", 0.8, "mmol/L")])), "electrolyte-imbalance"
    )
    assert with_mg.tests == ()


@pytest.mark.parametrize(
    ("drug", "cause"),
    [("29046", "potassium-raising"), ("5487", None)],  # lisinopril raises potassium; a thiazide does not
)
def test_potassium_raising_medicines_are_named_as_causes_of_a_high_value(drug, cause):
    found = finding(run(chart([obs(K, 6.2, "mmol/L")], meds=[med(rxnorm=drug)])), "electrolyte-imbalance")
    assert [c.key for c in found.causes] == ([cause] if cause else [])


def test_diuretics_are_not_listed_as_the_cause_of_a_high_value():
    thiazide = med(rxnorm="5487")  # hydrochlorothiazide lowers potassium and sodium; it does not raise them
    assert finding(run(chart([obs(K, 6.0, "mmol/L")], meds=[thiazide])), "electrolyte-imbalance").causes == ()
    low = finding(run(chart([obs(K, 3.0, "mmol/L")], meds=[thiazide])), "electrolyte-imbalance")
    assert [c.key for c in low.causes] == ["thiazide-diuretic"]


def test_high_sodium_alone_gives_one_card():
    assert topics(run(chart([obs(NA, 152, "mmol/L")]))) == ["electrolyte-imbalance"]
