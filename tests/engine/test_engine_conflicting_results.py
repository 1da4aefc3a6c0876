"""Two results of one test taken at the same instant that disagree across a cut-off: neither
drives a finding; the card names both and offers the test again. Agreeing duplicates are fine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cds.engine.guard import recent_loincs
from tests.engine.engine_fhir import KNOWLEDGE, PID, chart, finding, med, obs, run, topics
from tests.engine.guard_helpers import facts_of

B12, K, MG, ALB, CA = "2132-9", "2823-3", "19123-9", "1751-7", "17861-6"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T = "2026-10-01T08:00:00Z"


def pair(loinc: str, unit: str, first: float, second: float, when: str = T) -> list[dict[str, Any]]:
    return [obs(loinc, first, unit, when), obs(loinc, second, unit, when)]


@pytest.mark.parametrize(
    ("labs", "expected", "conflict"),
    [
        (pair(B12, "pg/mL", 150, 400), ["result-unreadable"], "b12_total"),
        (pair(B12, "pg/mL", 150, 250), ["result-unreadable"], "b12_total"),  # deficient vs grey zone
        (pair(B12, "pg/mL", 150, 160), ["b12-deficiency"], None),  # agreeing duplicate
        (pair(B12, "pg/mL", 150, 150), ["b12-deficiency"], None),
        ([obs(B12, 150, "pg/mL", T), obs(B12, 400, "pg/mL", "2026-10-01T09:00:00Z")], [], None),  # newer wins
        # the same instant written in two zones is the same instant
        (
            [obs(B12, 150, "pg/mL", "2026-10-01T10:00:00+02:00"), obs(B12, 400, "pg/mL", T)],
            ["result-unreadable"],
            "b12_total",
        ),
        (pair(B12, "pmol/L", 100, 300), ["result-unreadable"], "b12_total"),  # 135.5 vs 406.5 ng/L
        (pair(K, "mmol/L", 3.0, 4.0), ["result-unreadable"], "potassium"),
        (pair(K, "mmol/L", 3.0, 3.2), ["electrolyte-imbalance"], None),
        (pair(K, "mmol/L", 4.0, 6.8), ["result-unreadable"], "potassium"),
        (pair(MG, "mmol/L", 0.6, 0.8), ["result-unreadable"], "magnesium"),
        (pair(MG, "mmol/L", 0.8, 0.9), [], None),
        # one measurement written in two units agrees, whatever side each lands on at its precision
        ([obs(MG, 1.7, "mg/dL", T), obs("2601-3", 0.70, "mmol/L", T)], [], None),
        ([obs(MG, 1.2, "mg/dL", T), obs("2601-3", 0.49, "mmol/L", T)], ["hypomagnesemia"], None),
        ([obs(MG, 1.5, "mg/dL", T), obs("2601-3", 0.80, "mmol/L", T)], ["result-unreadable"], "magnesium"),
    ],
)
def test_same_instant_results_that_disagree_across_a_cutoff(labs, expected, conflict):
    result = run(chart(labs), now=NOW)
    assert topics(result) == expected
    if conflict is None:
        assert not any("conflicts with" in s.reason for s in result.facts.set_aside)
        return
    assert result.facts.latest(conflict) is None
    card = finding(result, "result-unreadable")
    assert card.title.endswith("results conflict")
    assert [t.key for t in card.tests] == [KNOWLEDGE.labs[conflict].test]
    reasons = [g.reason for g in card.gaps]
    assert len(reasons) == 2 and all("conflicts with" in r and "neither is used" in r for r in reasons)


def test_an_older_result_does_not_stand_in_for_conflicting_newer_ones():
    labs = [obs(B12, 120, "pg/mL", "2026-06-01"), *pair(B12, "pg/mL", 150, 400)]
    result = run(chart(labs), now=NOW)
    assert finding(result, "b12-deficiency") is None
    assert topics(result) == ["result-unreadable"]


def test_a_newer_result_after_a_conflict_is_used():
    labs = [*pair(B12, "pg/mL", 150, 400, "2026-09-01T08:00:00Z"), obs(B12, 150, "pg/mL", "2026-10-01")]
    result = run(chart(labs), now=NOW)
    assert topics(result) == ["b12-deficiency"]
    assert result.facts.latest("b12_total").value == 150


def test_a_card_that_asks_for_the_test_names_the_conflict():
    # metformin asks for a B12 test; the conflicting results are named there, not on a second card
    result = run(chart(pair(B12, "pg/mL", 150, 400), meds=[med(rxnorm="6809")]), now=NOW)
    assert topics(result) == ["b12-testing-recommended"]
    testing = finding(result, "b12-testing-recommended")
    assert sum("conflicts with" in g.reason for g in testing.gaps) == 2


def test_albumin_has_no_cutoff_of_its_own_so_any_difference_conflicts():
    labs = [obs(CA, 2.0, "mmol/L", T), *pair(ALB, "g/L", 25, 40)]
    result = run(chart(labs), now=NOW)
    assert result.facts.latest("albumin") is None
    labs = [obs(CA, 2.0, "mmol/L", T), *pair(ALB, "g/L", 40, 40)]
    assert run(chart(labs), now=NOW).facts.latest("albumin") is not None


@pytest.mark.parametrize(("second", "recent"), [(400, False), (160, True)])
def test_the_safety_check_does_not_count_conflicting_results_as_recent(second, recent):
    found = recent_loincs(facts_of(chart(pair(B12, "pg/mL", 150, second)), NOW, PID), KNOWLEDGE)
    assert ("2132-9" in found) is recent
    assert ("14685-2" in found) is recent


def test_thousands_of_conflicting_results_are_named_a_few_and_counted():
    labs = [obs(B12, 100 + i % 200, "pg/mL", T) for i in range(2000)]
    card = finding(run(chart(labs), now=NOW), "result-unreadable")
    named = [g for g in card.gaps if "conflicts with" in g.reason]
    assert len(named) == 3
    assert all(len(g.reason) < 400 for g in named)  # each names a few others and counts the rest
    assert [g.reason for g in card.gaps if "more results set aside" in g.reason] == [
        "1,997 more results set aside"
    ]
