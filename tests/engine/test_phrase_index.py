"""The phrase index finds exactly the phrases a whole-word substring search would find."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cds.knowledge import load_knowledge, word_form
from cds.knowledge.phrases import PhraseIndex

WORDS = st.sampled_from(["b12", "bell", "s", "palsy", "vitamin", "tetany", "no", "of"])
PHRASES = st.lists(st.lists(WORDS, min_size=1, max_size=3).map(" ".join), max_size=8)


@given(phrases=PHRASES, text=st.lists(WORDS, max_size=12).map(" ".join))
def test_matches_the_whole_word_substring_search(phrases: list[str], text: str) -> None:
    index = PhraseIndex((word_form(p), i) for i, p in enumerate(phrases))
    words = word_form(text)
    expected = {i for i, p in enumerate(phrases) if word_form(p) in words}
    assert index.find(words) == expected
    assert index.any(words) is bool(expected)


def test_phrases_sharing_a_first_word_are_all_found() -> None:
    index = PhraseIndex([(word_form("vitamin b12"), "long"), (word_form("vitamin"), "short")])
    assert index.find(word_form("Vitamin B12 (cyanocobalamin)")) == {"long", "short"}
    assert index.find(word_form("vitamin b 12")) == {"short"}


def test_a_part_of_a_word_is_not_a_match() -> None:
    index = PhraseIndex([(word_form("metformin"), "metformin")])
    assert index.find(word_form("metformins")) == set()
    assert index.find("") == set()


def test_knowledge_indexes_every_condition_and_medication_name() -> None:
    knowledge = load_knowledge()
    for vs_key, value_set in knowledge.value_sets.items():
        for member in value_set.members:
            for name in member.names:
                if member.whole_name_only:  # reviewed whole names: looked up, never searched for
                    assert (vs_key, member.key) in knowledge.condition_whole_names[name]
                else:
                    assert (vs_key, member.key) in knowledge.condition_names.find(name)
    for key, med_class in knowledge.medication_classes.items():
        for name in med_class.names:
            assert key in knowledge.medication_names.find(word_form(name))


def test_condition_code_index_finds_every_listed_code_and_prefix() -> None:
    knowledge = load_knowledge()
    index = knowledge.condition_codes
    for vs_key, value_set in knowledge.value_sets.items():
        for member in value_set.members:
            for code in member.snomed:
                assert (vs_key, member) in index.snomed[code]
            for prefix in member.icd10_prefixes:
                assert (vs_key, member) in index.by_icd10(prefix + "9")  # a child code
                assert (vs_key, member) not in index.by_icd10(prefix[:-1])  # its parent is not
