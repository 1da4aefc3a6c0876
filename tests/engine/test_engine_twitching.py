"""Twitching work-up, red flags, topic suppression, ordering and the no-noise rule."""

from __future__ import annotations

from tests.engine.engine_fhir import chart, cond, finding, med, normal_workup, obs, run, topics


def test_normal_or_absent_data_without_risk_gives_no_findings():
    assert run(chart()).findings == ()
    assert run(chart(normal_workup())).findings == ()
    assert run(chart(normal_workup(), conditions=[cond("R25.3")])).findings == ()


def test_workup_lists_every_missing_test():
    workup = finding(run(chart(conditions=[cond("R25.3")])), "twitching-workup")
    assert workup.severity == "info"
    assert [(t.key, t.loinc) for t in workup.tests] == [
        ("b12_total", "2132-9"),
        ("magnesium", "19123-9"),
        ("calcium", "17861-6"),
        ("albumin", "1751-7"),
        ("potassium", "2823-3"),
        ("sodium", "2951-2"),
    ]
    # Each order says why it is there; the gaps do not repeat it six times.
    assert all("no usable result" in t.reason for t in workup.tests if t.key != "albumin")
    assert workup.gaps == ()


def test_workup_only_asks_for_what_is_missing_or_stale():
    labs = [*normal_workup()[1:], obs("2132-9", 500, "pg/mL", "2025-01-01")]
    workup = finding(run(chart(labs, conditions=[cond("G51.3")])), "twitching-workup")
    assert [t.key for t in workup.tests] == ["b12_total"]
    assert any("older than 12 months" in g.reason for g in workup.gaps)
    with_holo = [*normal_workup()[1:], obs("72160-5", 90, "pmol/L")]
    assert run(chart(with_holo, conditions=[cond("G51.3")])).findings == ()
    total_only = [r for r in normal_workup() if r["code"]["coding"][0]["code"] != "1751-7"]
    workup = finding(run(chart(total_only, conditions=[cond("G51.3")])), "twitching-workup")
    # the total calcium is 12 days old: no new albumin could correct it, so both are asked for
    assert [t.key for t in workup.tests] == ["calcium", "albumin"]
    recent_total = [r for r in normal_workup("2026-10-28") if r["code"]["coding"][0]["code"] != "1751-7"]
    workup = finding(run(chart(recent_total, conditions=[cond("G51.3")])), "twitching-workup")
    assert [t.key for t in workup.tests] == ["albumin"]
    ionized = [r for r in normal_workup() if r["code"]["coding"][0]["code"] not in {"1751-7", "2000-8"}]
    assert run(chart([*ionized, obs("1995-0", 1.2, "mmol/L")], conditions=[cond("G51.3")])).findings == ()


def test_workup_suppresses_b12_and_magnesium_testing_for_the_same_tests():
    long_ppi = med(rxnorm="7646", start="2020-01-01")
    without = topics(run(chart(meds=[long_ppi])))
    assert without == ["b12-testing-recommended", "magnesium-testing-recommended"]
    result = run(chart(meds=[long_ppi], conditions=[cond("R25.3")]))
    assert topics(result) == ["twitching-workup"]
    assert [c.key for c in result.findings[0].causes] == ["ppi"]


def test_workup_is_silent_when_observations_are_unavailable():
    result = run(chart(conditions=[cond("R25.3")]), unavailable={"observations": "FHIR server answered 500"})
    assert result.findings == ()


def test_red_flags_with_twitching_are_critical_and_come_first():
    result = run(chart([obs("2132-9", 120, "pg/mL")], conditions=[cond("R25.3"), cond("G12.21")]))
    assert topics(result)[0] == "twitching-red-flags"
    flags = result.findings[0]
    assert flags.severity == "critical"
    assert {s.key for s in flags.symptoms} == {"fasciculation"}  # ALS is a diagnosis, not a symptom
    assert {r.key for r in flags.on_record} == {"motor-neuron-disease"}
    assert flags.title == "Twitching with motor neuron disease on record: assess promptly"
    assert "red-flags-present" in finding(result, "b12-deficiency").notes


def test_red_flags_without_twitching_give_no_red_flag_finding():
    assert "twitching-red-flags" not in topics(run(chart(normal_workup(), conditions=[cond("G51.0")])))


def test_findings_are_sorted_by_severity_and_unique_per_topic():
    labs = [obs("2132-9", 120, "pg/mL"), obs("2601-3", 0.4, "mmol/L"), obs("2823-3", 3.0, "mmol/L")]
    result = run(chart(labs, conditions=[cond("R25.3")]))
    order = {"critical": 0, "warning": 1, "info": 2}
    assert [order[f.severity] for f in result.findings] == sorted(order[f.severity] for f in result.findings)
    assert len(topics(result)) == len(set(topics(result)))
    assert topics(result)[0] == "hypomagnesemia"


def test_unavailable_keys_are_reported_on_every_finding():
    result = run(chart([obs("2132-9", 120, "pg/mL")]), unavailable={"conditions": "FHIR server answered 500"})
    assert all(any(g.item == "conditions" for g in f.gaps) for f in result.findings)
    assert result.findings
