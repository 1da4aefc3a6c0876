"""Electrolyte cards as a clinician reads them: the management on severe cards, each thing said
once, both values in a two-analyte summary, evidence rows with the laboratory's unit, the time
taken and its age."""

from __future__ import annotations

import re

import pytest

from cds.cards.render import CardContext, render_cards
from cds.reader import KeyProblem, KeyState
from cds.services.response import Card
from tests.engine.engine_fhir import KNOWLEDGE, chart, cond, med, obs, run

WHEN = "2026-10-31T08:00:00Z"  # 28 hours before the engine tests' "now"


def cards(resources, **kwargs) -> list[Card]:
    ctx = CardContext("0f6c1c2e-0000-4222-8333-444455556666", "p1", "https://cds.example.org", KNOWLEDGE)
    return list(render_cards(run(resources, **kwargs).findings, ctx))


def card(resources, topic: str) -> Card:
    return next(c for c in cards(resources) if c.source.topic.code == topic)


def ordered(c: Card) -> list[str]:
    return [s.label for s in c.suggestions or ()]


def test_severe_hypocalcaemia_says_what_to_do_now_and_offers_its_work_up_not_vitamin_d():
    c = card(chart([obs("29265-6", 1.75, "mmol/L", WHEN)]), "hypocalcemia")
    assert c.indicator == "critical"
    assert "ECG" in c.detail and "intravenous calcium gluconate" in c.detail
    labels = " ".join(ordered(c))
    for test in ("Calcium, ionized", "Magnesium", "Phosphate", "Parathyroid hormone", "Creatinine"):
        assert test in labels
    assert "vitamin d" not in labels.lower()
    assert "Chvostek" not in c.detail


def test_a_severe_calcium_card_says_magnesium_once():
    c = card(chart([obs("29265-6", 1.75, "mmol/L", WHEN)]), "hypocalcemia")
    lines = [line for line in c.detail.splitlines() if re.search(r"(?i)magnesium", line)]
    assert lines == ["- Order Magnesium (serum): low magnesium keeps calcium low and must be corrected first"]


@pytest.mark.parametrize(
    ("value", "indicator", "words"),
    [
        (6.2, "warning", "Record an ECG now and repeat potassium urgently; consider insulin with glucose"),
        (6.8, "critical", "Record an ECG now and start emergency treatment"),
        (2.3, "critical", "Replace potassium now"),
    ],
)
def test_potassium_cards_carry_the_management_of_their_grade(value, indicator, words):
    c = card(chart([obs("2823-3", value, "mmol/L", WHEN)]), "electrolyte-imbalance")
    assert c.indicator == indicator
    assert words in c.detail
    assert "wait" not in c.detail.lower() or "not waited for" in c.detail


def test_high_sodium_asks_for_free_water_and_a_slow_fall():
    c = card(chart([obs("2951-2", 158, "mmol/L", WHEN)]), "electrolyte-imbalance")
    assert "free water" in c.detail and "10 mmol/L in 24 hours" in c.detail


def test_low_sodium_with_heart_failure_is_not_treated_as_dehydration():
    c = card(chart([obs("2951-2", 128, "mmol/L", WHEN)], conditions=[cond("I50.9")]), "electrolyte-imbalance")
    assert "restrict fluid" in c.detail
    assert "give fluid" not in c.detail.replace("rather than giving fluid", "")


def test_a_two_analyte_summary_names_both_values_the_severe_first():
    labs = [obs("2951-2", 134, "mmol/L", WHEN), obs("2823-3", 6.8, "mmol/L", WHEN)]
    c = card(chart(labs, conditions=[cond("R25.3")]), "electrolyte-imbalance")
    assert c.summary.startswith("Potassium 6.8 mmol/L (severely high); sodium 134 mmol/L (slightly low)")


def test_the_magnesium_label_agrees_with_the_comparison_shown_in_the_unit_judged():
    c = card(chart([obs("19123-9", 1.2, "mg/dL", WHEN)]), "hypomagnesemia")
    assert c.indicator == "warning"
    row = next(line for line in c.detail.splitlines() if line.startswith("| Magnesium"))
    assert "| 1.2 mg/dL (0.49 mmol/L) |" in row and row.endswith("| \\< 1.7 mg/dL |")
    assert "on the severe cut-off (1.2 mg/dL = 0.50 mmol/L), not below it" in c.detail
    critical = card(chart([obs("19123-9", 1.1, "mg/dL", WHEN)]), "hypomagnesemia")
    assert critical.indicator == "critical" and "\\< 1.2 mg/dL" in critical.detail


def test_every_evidence_row_shows_the_time_taken_and_how_long_ago():
    c = card(chart([obs("2601-3", 0.55, "mmol/L", WHEN)]), "hypomagnesemia")
    assert "| 2026-10-31 08:00, 28 hours ago |" in c.detail


def test_an_old_result_gets_a_recheck_card_without_treatment_advice():
    c = card(chart([obs("2601-3", 0.55, "mmol/L", "2026-09-04T08:00:00Z")]), "hypomagnesemia")
    assert c.indicator == "info"
    assert c.summary.startswith("Recheck low magnesium (58 days ago)")
    assert "Replace magnesium" not in c.detail
    assert ordered(c) == ["Order Magnesium (serum)"]


def test_linked_cards_point_at_the_magnesium_card():
    labs = [obs("2601-3", 0.45, "mmol/L", WHEN), obs("2823-3", 2.3, "mmol/L", WHEN)]
    potassium = card(chart(labs), "electrolyte-imbalance")
    assert 'See also the card "Severely low magnesium"' in potassium.detail
    assert (
        "correct it at the same time" in potassium.detail and "without delaying potassium" in potassium.detail
    )


def test_age_is_a_risk_factor_not_a_likely_cause():
    resources = chart([obs("2132-9", 150, "pg/mL")], meds=[med(rxnorm="6809")], birth_date="1950-01-01")
    c = card(resources, "b12-deficiency")
    causes, _, rest = c.detail.partition("**Risk factors**")
    assert "Age 76" in rest.split("**", 1)[0]
    assert "Age 76" not in causes.split("**Likely causes in the chart**")[1]


def test_no_paging_language_on_cards():
    resources = chart([obs("2132-9", 120, "pg/mL")])
    states = {"medicationRequests": "incomplete: the EHR sent 2 of 230 entries"}
    unavailable = {
        k: KeyState(k, KeyProblem.PARTIAL, v.removeprefix("incomplete: ")) for k, v in states.items()
    }
    text = " ".join(f"{c.summary} {c.detail}" for c in cards(resources, unavailable=unavailable))
    assert "entries" not in text and "230" not in text and "page" not in text
    assert "only partly available" in text


def test_the_result_before_shows_which_way_the_value_is_going():
    labs = [obs("2823-3", 6.8, "mmol/L", WHEN), obs("2823-3", 6.1, "mmol/L", "2026-10-31T02:00:00Z")]
    c = card(chart(labs), "electrolyte-imbalance")
    assert "previous 6.1 mmol/L, 6 hours earlier" in c.detail


def test_the_recommended_b12_option_comes_first():
    twitching = cond("R25.3")
    c = card(chart([obs("2132-9", 150, "pg/mL", WHEN)], conditions=[twitching]), "b12-deficiency")
    assert c.suggestions[0].isRecommended is True
    assert "Intramuscular" in c.suggestions[0].label
    assert "the first option on this card is the one recommended" in c.detail


@pytest.mark.parametrize(
    ("labs", "source"),
    [
        ([obs("2823-3", 6.2, "mmol/L", WHEN)], "ukka-hyperkalaemia-2020"),
        ([obs("2951-2", 128, "mmol/L", WHEN)], "hyponatraemia-2014"),
        ([obs("2951-2", 158, "mmol/L", WHEN)], "hypernatraemia-2000"),
    ],
)
def test_potassium_and_sodium_cards_cite_their_clinical_guidelines(labs, source):
    c = card(chart(labs), "electrolyte-imbalance")
    linked = [link.url for link in c.links]
    assert any(url.endswith(f"/docs/sources/{source}") for url in linked)
    assert not any(url.endswith("/docs/sources/twitching-deficiencies") for url in linked)
