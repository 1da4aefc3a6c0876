"""Every red flag the sources name raises the red-flag card, coded or in words; negated words do not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.engine_fhir import ICD10, PID, SNOMED, chart, cond, finding, normal_workup, run, topics


def _text(words: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"t{abs(hash(words))}",
        "subject": {"reference": f"Patient/{PID}"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"text": words},
    }


TWITCHING = cond("32402008", SNOMED)

FLAGS = [
    # (how it is recorded, expected flag name in the summary)
    (cond("26544005", SNOMED), "limb weakness"),
    (cond("M62.81", ICD10), "limb weakness"),
    (_text("Left leg weakness"), "limb weakness"),
    (_text("Generalized weakness"), "limb weakness"),
    (_text("Twitching spreading to the neck"), "spasm spreading to other areas"),
    (_text("Spasm now involves the whole face"), "spasm spreading to other areas"),
    (cond("R29.810", ICD10), "facial weakness or drooping"),
    (_text("Facial drooping"), "facial weakness or drooping"),
    (_text("Drooping eyelid, right"), "drooping eyelid"),
    (cond("8011004", SNOMED), "speech changes"),
    (_text("Slurred speech"), "speech changes"),
    (cond("24982008", SNOMED), "vision changes"),
    (cond("H53.2", ICD10), "vision changes"),
    (_text("Double vision"), "vision changes"),
    (cond("20262006", SNOMED), "balance problems"),
    (cond("R26.81", ICD10), "balance problems"),
    (_text("Loss of balance"), "balance problems"),
    (cond("40739000", SNOMED), "difficulty swallowing"),
    (cond("R13.12", ICD10), "difficulty swallowing"),
    (_text("Difficulty swallowing"), "difficulty swallowing"),
    (cond("88092000", SNOMED), "muscle wasting"),
    (cond("M62.50", ICD10), "muscle wasting"),
    (_text("Muscle wasting of the hands"), "muscle wasting"),
]


@pytest.mark.parametrize(("condition", "flag"), FLAGS)
def test_each_red_flag_raises_the_card_and_is_named(condition, flag):
    result = run(chart(normal_workup(), conditions=[TWITCHING, condition]))
    assert topics(result) == ["twitching-red-flags"]
    red = finding(result, "twitching-red-flags")
    assert red.severity == "critical"
    assert red.title == f"Twitching with {flag}: assess promptly"
    assert red.on_record == ()  # symptoms, not diagnoses


@pytest.mark.parametrize(
    "condition",
    [
        _text("No limb weakness"),
        _text("Denies difficulty swallowing"),
        _text("Family history of muscle wasting"),
        _text("Neck pain"),  # the neck alone is not a spreading spasm
        _text("Electrolyte imbalance"),
        _text("Spreading cellulitis"),
        cond("26544005", SNOMED, clinical="resolved"),
        cond("40739000", SNOMED, verification="refuted"),
    ],
)
def test_negated_unrelated_or_ended_findings_raise_no_red_flag(condition):
    assert topics(run(chart(normal_workup(), conditions=[TWITCHING, condition]))) == []


def test_a_flag_without_twitching_raises_no_red_flag_card():
    assert topics(run(chart(normal_workup(), conditions=[cond("26544005", SNOMED)]))) == []


def test_summary_names_every_flag_found_symptoms_before_diagnoses():
    conditions = [TWITCHING, cond("86044005", SNOMED), cond("M62.81", ICD10), cond("R13.10", ICD10)]
    red = finding(run(chart(normal_workup(), conditions=conditions)), "twitching-red-flags")
    assert red.title == (
        "Twitching with limb weakness, difficulty swallowing and motor neuron disease on record: "
        "assess promptly"
    )
    assert [s.key for s in red.symptoms] == ["facial-spasm", "limb-weakness", "dysphagia"]
    assert [r.key for r in red.on_record] == ["motor-neuron-disease"]


BROAD = [
    # (how it is recorded, expected flag name): weakness or paralysis named without a body part
    (_text("Left-sided weakness"), "weakness or paralysis"),
    (_text("Right hemiparesis"), "weakness or paralysis"),
    (_text("Weakness"), "weakness or paralysis"),
    (cond("R53.1", ICD10), "weakness or paralysis"),
    (cond("G81.94", ICD10), "weakness or paralysis"),
    # a narrower flag wins over the broad one: never "limb weakness and weakness or paralysis"
    (_text("Muscle weakness"), "limb weakness"),
    (_text("Facial weakness"), "facial weakness or drooping"),
]


@pytest.mark.parametrize(("condition", "flag"), BROAD)
def test_broad_weakness_and_paralysis_raise_the_card_once(condition, flag):
    red = finding(run(chart(normal_workup(), conditions=[TWITCHING, condition])), "twitching-red-flags")
    assert red is not None
    assert red.title == f"Twitching with {flag}: assess promptly"


@pytest.mark.parametrize("words", ["Twitching without weakness", "Free of weakness", "No paralysis"])
def test_broad_weakness_negated_raises_nothing(words):
    assert topics(run(chart(normal_workup(), conditions=[TWITCHING, _text(words)]))) == []


@pytest.mark.parametrize(
    "words", ["Eyelid twitching without ptosis", "Facial twitching without slurred speech"]
)
def test_without_negates_only_what_follows(words):
    result = run(chart(normal_workup(), conditions=[_text(words)]))
    assert topics(result) == []
    assert {c.value_set for c in result.facts.conditions} == {"twitching"}
