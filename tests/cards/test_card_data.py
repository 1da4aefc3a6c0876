"""The card knowledge files agree with the engine's knowledge, and chart text stays contained."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds.engine.model import Cause, Topic
from tests.cards.card_helpers import KNOWLEDGE, b12_evidence, build_cards, context, deficiency


def test_every_source_and_cut_off_named_by_card_data_exists() -> None:
    catalog = KNOWLEDGE
    for info in catalog.topics.values():
        assert set(info.sources) <= set(KNOWLEDGE.sources), info.code
        assert set(info.cutoffs) <= set(KNOWLEDGE.cutoff_info), info.code
        assert info.certainty in {"V", "S", "U"}
    for key, option in catalog.treatments.items():
        assert set(option["sources"]) <= set(KNOWLEDGE.sources), key
        assert all(c["certainty"] in {"V", "S", "U"} for c in option["medication"]["coding"])


def test_topic_data_covers_exactly_the_public_topics() -> None:
    assert set(KNOWLEDGE.topics) == {t.value for t in Topic}


@settings(deadline=None)
@given(reported=st.text(max_size=300), cause=st.text(max_size=300))
def test_any_chart_text_keeps_the_summary_short_and_the_table_whole(reported: str, cause: str) -> None:
    primary = b12_evidence(reported=reported)
    finding = deficiency(primary=primary, evidence=(primary,), causes=(Cause("medication", "x", cause),))
    [card] = build_cards([finding], context())
    assert 0 < len(card["summary"]) < 140
    lines = card["detail"].splitlines()
    [row] = [line for line in lines if line.startswith("| Vitamin B12 |")]
    assert row.replace("\\\\", "").replace("\\|", "").count("|") == 5
    assert "](" not in card["detail"].replace("](https://www.nice.org.uk", "")
