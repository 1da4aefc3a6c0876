"""Every per-request cost is linear in the body's size: the proof is by construction.

Code lookups are counted (over-long codes are never looked up, a prefix lookup reads a bounded
number of keys), and the string helpers that once rescanned their input are checked against
their reference behaviour and run on inputs at the body limit under a hang guard.
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.cards.summary import without_trailing_parenthetical
from cds.cards.text import SHOWN_MAX, md_escape, one_line
from cds.config import load_settings
from cds.http.app import create_app
from cds.knowledge import MAX_CODE_LENGTH, MAX_NAME_LENGTH, load_knowledge

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from engine_fhir import SNOMED, chart, cond, med, obs, run
from hostile import SERVICE, VALID_CALL, encode

LONG = "G" * (MAX_CODE_LENGTH + 1)
HUGE = "1" * 300_000


class CountingMapping(Mapping[str, Any]):
    """A read-only mapping that records every key it is asked for."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.asked.append(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.append(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def counting_knowledge() -> tuple[Any, dict[str, CountingMapping]]:
    base = load_knowledge()
    loinc = CountingMapping(base.loinc_to_analyte)
    knowledge = replace(base, loinc_to_analyte=loinc)
    index = base.condition_codes
    snomed, icd10 = CountingMapping(index.snomed), CountingMapping(index.icd10_prefixes)
    # condition_codes is a cached property: the counted index takes its place on the copy
    knowledge.__dict__["condition_codes"] = replace(index, snomed=snomed, icd10_prefixes=icd10)
    return knowledge, {"loinc": loinc, "snomed": snomed, "icd10": icd10}


def test_an_icd10_lookup_reads_a_bounded_number_of_prefixes() -> None:
    knowledge, counted = counting_knowledge()
    index = knowledge.condition_codes
    assert index.by_icd10("G" * 2_000_000) == []
    assert counted["icd10"].asked == []  # over-long: not looked up at all
    index.by_icd10("G51" + "9" * (MAX_CODE_LENGTH - 3))
    assert len(counted["icd10"].asked) == index.longest_icd10_prefix + 1
    assert index.by_icd10("G513")  # hemifacial spasm is still found by its prefix


def test_the_engine_never_looks_up_an_over_long_code() -> None:
    knowledge, counted = counting_knowledge()
    resources = chart(
        observations=[obs("2132-9" + "9" * MAX_CODE_LENGTH, 150, "pg/mL"), obs(HUGE, 1.0, "mmol/L")],
        conditions=[cond(HUGE + "G51"), cond(HUGE, SNOMED), cond("G51.3")],
        meds=[med(rxnorm=HUGE, atc="A10BA02" + HUGE, text="metformin")],
    )
    assessment = run(resources, knowledge=knowledge)
    asked = [key for mapping in counted.values() for key in mapping.asked]
    assert asked, "the counted lookups were not used"
    assert max(map(len, asked)) <= MAX_CODE_LENGTH
    # the well-formed condition still counts, the over-long ones are ignored rather than fatal
    assert [c.member for c in assessment.facts.conditions] == ["hemifacial-spasm"]


def test_over_long_medication_codes_are_never_matched() -> None:
    base = load_knowledge()
    metformin = base.medication_classes["metformin"]
    # A class listing an over-long code: it would match only if such codes were looked up.
    widened = replace(metformin, rxcuis=metformin.rxcuis | {HUGE}, atc_prefixes=("Z" * 50,))
    knowledge = replace(base, medication_classes={**base.medication_classes, "metformin": widened})
    facts = run(chart(meds=[med(rxnorm=HUGE), med(atc="Z" * 60)]), knowledge=knowledge).facts
    assert not [m for m in facts.medications if m.class_key == "metformin"]


_OLD_PARENTHETICAL = re.compile(r"\s*\([^)]*\)$")


@given(st.text(st.sampled_from("ab ()\t"), max_size=12))
def test_trailing_parenthetical_is_cut_as_before(name: str) -> None:
    assert without_trailing_parenthetical(name) == _OLD_PARENTHETICAL.sub("", name)


@pytest.fixture
def hang_guard() -> Iterator[None]:
    """Fails a call that runs for minutes instead of milliseconds (not a timing assertion:
    the linear versions finish three orders of magnitude sooner)."""

    def fail(*_: Any) -> None:
        raise AssertionError("the call did not finish: its cost is not linear in its input")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "text",
    ["a." * 1_000_000 + "*", "(" * 2_000_000 + ")", " " * 2_000_000 + "x)", "http://" * 300_000],
)
def test_card_text_of_body_limit_size_is_escaped_and_shortened(text: str, hang_guard: None) -> None:
    escaped = md_escape(text)
    outside_code = re.sub(r"`[^`]*`", "", escaped)
    assert "://" not in outside_code  # every URL is inline code, where no renderer links it
    assert len(without_trailing_parenthetical(text)) <= len(text)


def test_a_call_of_hostile_strings_at_the_body_limit_is_answered(hang_guard: None) -> None:
    """Displays and free text that defeated the card text patterns, through the whole service."""
    text = "a." * 600_000 + " (" * 600_000
    observation = obs("2132-9", 150, "pg/mL")
    observation["code"]["coding"][0]["display"] = text
    condition = cond("G51.3")
    condition["code"]["coding"][0]["display"] = text
    call = {**VALID_CALL, "prefetch": chart(observations=[observation], conditions=[condition])}
    body = encode(call)
    settings = load_settings(environ={}, database_url="sqlite://", max_body_bytes=len(body))
    client = create_app(settings).test_client()
    response = client.post(SERVICE, data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.get_json()["cards"]  # the low B12 still gets its card


def test_text_longer_than_any_name_is_never_matched_by_name() -> None:
    long_tail = " filler" * (MAX_NAME_LENGTH // 7 + 1)
    facts = run(
        chart(
            meds=[med(text="metformin" + long_tail), med(text="omeprazole")],
            conditions=[cond("Z00") | {"code": {"text": "hemifacial spasm" + long_tail}}],
        )
    ).facts
    assert [m.class_key for m in facts.medications] == ["ppi"]  # the short name still matches
    assert facts.conditions == ()


def test_chart_text_on_a_card_is_cut_before_any_other_work() -> None:
    shown = md_escape("a" * 5_000_000)
    assert len(shown) == SHOWN_MAX and shown.endswith("…")
    assert len(one_line("b " * 3_000_000)) <= SHOWN_MAX
