"""Knowledge files: loader, overrides, referential integrity; engine robustness on hostile input."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.engine.model import Topic
from cds.knowledge import load_knowledge
from tests.engine.engine_fhir import KNOWLEDGE, chart, cond, med, normal_workup, obs, run


def test_unknown_override_is_rejected_by_name():
    with pytest.raises(ValueError, match="b12_totl_deficient"):
        load_knowledge({"b12_totl_deficient": 200})


@pytest.mark.parametrize("bad", [float("nan"), -1, "200", True])
def test_override_values_must_be_finite_numbers(bad):
    with pytest.raises(ValueError, match="b12_total_deficient"):
        load_knowledge({"b12_total_deficient": bad})


def test_overrides_that_invert_a_band_are_rejected():
    with pytest.raises(ValueError, match="magnesium_severe_low"):
        load_knowledge({"magnesium_severe_low": 0.8})


def test_override_changes_the_effective_cutoff_and_the_evidence_text():
    knowledge = load_knowledge({"b12_total_deficient": 200})
    assert knowledge.cutoffs["b12_total_deficient"] == 200
    deficiency = run(chart([obs("2132-9", 190, "pg/mL")]), knowledge=knowledge).findings[0]
    assert deficiency.topic == "b12-deficiency"
    assert deficiency.primary.cutoff == "< 200 pg/mL"
    assert KNOWLEDGE.cutoffs["b12_total_deficient"] == 180


def test_every_entry_names_a_known_source_and_a_certainty():
    sources = set(KNOWLEDGE.sources)
    raw = {
        n: json.loads(resources.files("cds.knowledge").joinpath(f"{n}.json").read_text())
        for n in ("labs", "cutoffs", "value_sets", "medications", "tests", "notes")
    }
    assert {c["source"] for c in raw["cutoffs"]["cutoffs"].values()} <= sources
    assert {c["certainty"] for c in raw["cutoffs"]["cutoffs"].values()} <= {"V", "S", "U"}
    assert {a["source"] for a in raw["labs"]["analytes"].values()} <= sources
    assert {v["source"] for v in raw["value_sets"]["value_sets"].values()} <= sources
    assert {m["source"] for m in raw["medications"]["classes"].values()} <= sources
    assert {t["source"] for t in raw["tests"]["tests"].values()} <= sources
    assert set(KNOWLEDGE.note_sources.values()) <= sources
    for vs in raw["value_sets"]["value_sets"].values():
        assert all(m["certainty"] in {"V", "S", "U"} for m in vs["members"])


# Charts that between them raise every topic, so every emitted key is checked.
_CHARTS = [
    chart(
        [
            obs("2132-9", 120, "pg/mL"),
            obs("2601-3", 0.4, "mmol/L"),
            obs("2000-8", 1.8, "mmol/L"),
            obs("1751-7", 40, "g/L"),
            obs("2823-3", 2.4, "mmol/L"),
            obs("72160-5", 20, "pmol/L"),
            obs("13964-2", 0.5, "umol/L"),
        ],
        meds=[
            med(rxnorm="6809"),
            med(rxnorm="7646", start="2020-01-01"),
            med(rxnorm="4603"),
            med(rxnorm="3407"),
        ],
        conditions=[cond("R25.3"), cond("G62.9"), cond("G51.0"), cond("D51.0"), cond("F10.20")],
        birth_date="2010-01-01",
    ),
    chart([obs("2132-9", 250, "pg/mL", status="preliminary")], conditions=[cond("R25.3")]),
    chart([obs("2132-9", 1500, "pg/mL")]),
    chart([obs("2132-9", 150, "pg/mL")], meds=[med(rxnorm="11248", start="2026-10-01")]),
    chart(meds=[med(rxnorm="6809"), med(rxnorm="7646", start="2020-01-01")]),
    chart(normal_workup()[1:], conditions=[cond("R25.3")]),
    chart([obs("17861-6", 7.0, "mg/dL"), obs("1751-7", 3.0, "g/dL")]),
    chart([obs("2823-3", 4.1, "mg/L")]),
]


def test_every_topic_is_reachable_and_every_key_it_emits_exists():
    seen = set()
    for prefetch in _CHARTS:
        for f in run(prefetch).findings:
            seen.add(f.topic)
            assert set(f.notes) <= set(KNOWLEDGE.notes), f.topic
            assert set(f.sources) <= set(KNOWLEDGE.sources), f.topic
            assert all(e.source in KNOWLEDGE.sources for e in f.evidence)
            assert all(t.key in KNOWLEDGE.tests for t in f.tests)
            assert {t.key for t in f.treatments} <= {"b12-oral", "b12-sublingual", "b12-im", "b12-im-neuro"}
    # The order topics come from assess_orders only; tests/orders checks their keys the same way.
    assert seen == set(Topic) - {Topic.B12_DUPLICATE_THERAPY, Topic.FOLATE_WITHOUT_B12}


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "Patient/p1",
            "http://loinc.org",
            "2132-9",
            "final",
            "pg/mL",
            "<",
            "2026-10-01",
            "Observation",
            "Bundle",
            "active",
            "#m",
            "Medication/x",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resourceType",
                    "entry",
                    "resource",
                    "subject",
                    "reference",
                    "code",
                    "coding",
                    "system",
                    "status",
                    "valueQuantity",
                    "value",
                    "unit",
                    "comparator",
                    "effectiveDateTime",
                    "effectivePeriod",
                    "start",
                    "medicationCodeableConcept",
                    "medicationReference",
                    "contained",
                    "id",
                    "clinicalStatus",
                    "birthDate",
                    "fullUrl",
                    "ingredient",
                    "text",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=30,
)


def _observation(value, unit, comparator, date, status, subject):
    return {
        "resourceType": "Observation",
        "id": "h",
        "status": status,
        "subject": subject,
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "valueQuantity": {"value": value, "unit": unit, "comparator": comparator},
        "effectiveDateTime": date,
    }


_observations = st.builds(_observation, _json, _json, _json, _json, _json, _json)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            ["patient", "observations", "medicationStatements", "medicationRequests", "conditions"]
        ),
        _json
        | st.builds(
            lambda e: {"resourceType": "Bundle", "entry": e},
            st.lists(st.builds(lambda r: {"resource": r}, _json | _observations), max_size=5),
        ),
    )
)
def test_assess_never_raises_on_hostile_input(resources):
    result = run(resources)
    assert all(f.topic in set(Topic) for f in result.findings)
