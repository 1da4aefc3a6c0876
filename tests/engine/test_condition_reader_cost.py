"""The condition reader's work is bounded by construction: each distinct concept is judged
once per call, and the word form is the regular-expression definition, computed faster."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from cds.knowledge import word_form
from cds.reader import conditions, decode
from cds.reader.chart import entries_of
from cds.reader.codes import SubjectCheck
from tests.engine.engine_fhir import KNOWLEDGE, NOW, PID, bundle, cond

SUBJECT = SubjectCheck(PID, frozenset())
_NON_WORD = re.compile(r"[^a-z0-9]+")


@given(st.text(alphabet=st.sampled_from("aZ9 .-_\t\n()'éÉKİß\u00a0xY"), max_size=30))
def test_word_form_is_the_regular_expression_definition(value: str) -> None:
    assert word_form(value) == " " + _NON_WORD.sub(" ", value.lower()).strip() + " "


def named(words: str) -> dict:
    """A Condition known only by its text (a code the value sets do not list)."""
    resource = cond("Z99.89")
    resource["code"]["text"] = words
    return resource


def _read(resources: list[dict], monkeypatch) -> tuple[tuple, int]:
    calls = 0
    judge = conditions._judge_concept

    def counting(*args):
        nonlocal calls
        calls += 1
        return judge(*args)

    monkeypatch.setattr(conditions, "_judge_concept", counting)
    entries = entries_of(decode(bundle(*resources)).resource)
    found = conditions.read_conditions(entries, KNOWLEDGE, SUBJECT, NOW)
    return found, calls


def test_repeated_concepts_are_judged_once_and_every_record_still_matches(monkeypatch) -> None:
    records = [cond("G51.3") for _ in range(500)]
    records += [named("Bell palsy") for _ in range(500)]
    found, calls = _read(records, monkeypatch)
    assert calls == 2
    # no record is dropped: each one is a match of its own, with its own reference
    assert len({m.reference for m in found}) == 1000


def test_a_negated_text_stays_unmatched_when_repeated(monkeypatch) -> None:
    records = [named("no Bell palsy") for _ in range(50)] + [named("Bell palsy")]
    found, calls = _read(records, monkeypatch)
    assert calls == 2
    assert len(found) == 1 and found[0].matched_by == "text"
