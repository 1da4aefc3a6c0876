"""One order per test per answer: a test two findings need is offered on the first card only."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.engine.engine_fhir import SNOMED, chart, cond, finding, obs, run, topics

TWITCHING = cond("32402008", SNOMED)

CHARTS = [
    # (name, chart, finding that keeps the test, test key, finding that names it instead)
    (
        "low magnesium and twitching: potassium on the magnesium card",
        chart([obs("2601-3", 0.55, "mmol/L")], conditions=[TWITCHING]),
        "hypomagnesemia",
        "potassium",
        "twitching-workup",
    ),
    (
        "low total calcium without albumin and twitching: albumin on the calcium card",
        chart([obs("2000-8", 2.0, "mmol/L")], conditions=[TWITCHING]),
        "hypocalcemia",
        "albumin",
        "twitching-workup",
    ),
]


@pytest.mark.parametrize(("name", "resources", "owner", "key", "other"), CHARTS, ids=[c[0] for c in CHARTS])
def test_a_test_two_findings_need_is_ordered_once_and_named_on_the_other(name, resources, owner, key, other):
    result = run(resources)
    counts = Counter(t.key for f in result.findings for t in f.tests)
    assert counts and max(counts.values()) == 1, counts
    assert key in {t.key for t in finding(result, owner).tests}
    later = finding(result, other)
    assert key not in {t.key for t in later.tests}
    assert finding(result, owner).title in {s.card for s in later.tests_elsewhere}


def test_a_testing_only_finding_whose_tests_are_all_elsewhere_is_dropped():
    # Twitching with everything measured but albumin; the low total calcium card asks for it.
    labs = [
        obs("2132-9", 500, "pg/mL"),
        obs("2601-3", 0.85, "mmol/L"),
        obs("2000-8", 2.0, "mmol/L"),
        obs("2823-3", 4.2, "mmol/L"),
        obs("2951-2", 140, "mmol/L"),
    ]
    result = run(chart(labs, conditions=[TWITCHING]))
    assert topics(result) == ["hypocalcemia"]
    assert "albumin" in {t.key for t in finding(result, "hypocalcemia").tests}


def test_without_overlap_every_finding_keeps_its_tests():
    result = run(chart([], conditions=[TWITCHING]))
    workup = finding(result, "twitching-workup")
    assert {t.key for t in workup.tests} >= {"b12_total", "magnesium", "potassium", "sodium"}
    assert workup.tests_elsewhere == ()
