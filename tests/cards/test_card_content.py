"""Cards built from hand-made findings: shape, summary, detail, links, ids, ordering."""

from __future__ import annotations

import re
import uuid

import pytest

from cds.cards.summary import shown_number
from cds.engine.model import Cause, DataGap, Finding, Severity, Topic
from tests.cards.card_helpers import (
    BASE,
    FOLATE,
    KNOWLEDGE,
    MMA,
    assert_valid_response,
    b12_evidence,
    build_cards,
    context,
    deficiency,
    empty_values,
    one_of_each_topic,
)

ORDER = {"critical": 0, "warning": 1, "info": 2}


def test_every_topic_gives_a_valid_response_without_empty_fields() -> None:
    cards = build_cards(one_of_each_topic(), context())
    response = {"cards": cards}
    assert_valid_response(response)
    assert {c["source"]["topic"]["code"] for c in cards} == {t.value for t in Topic}
    assert empty_values(response) == []


@pytest.mark.parametrize("severity", list(Severity))
def test_indicator_follows_severity(severity: Severity) -> None:
    finding = Finding(topic=Topic.HYPOCALCEMIA, severity=severity, title="Low calcium")
    [card] = build_cards([finding], context())
    assert card["indicator"] == severity.value


def test_cards_are_ordered_critical_warning_info() -> None:
    cards = build_cards(one_of_each_topic(), context())
    ranks = [ORDER[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks)
    assert ranks[0] == 0 and ranks[-1] == 2


def test_summary_quotes_value_date_and_cutoff() -> None:
    [card] = build_cards([deficiency()], context())
    assert card["summary"] == "Vitamin B12 deficiency: 150 pg/mL on 2026-09-02 (cut-off < 180 pg/mL)"


def test_summary_shows_reported_form_when_unit_differs() -> None:
    primary = b12_evidence(reported="<111 pmol/L", comparator="<", value=150.4)
    [card] = build_cards([deficiency(primary=primary, evidence=(primary,))], context())
    expected = "Vitamin B12 deficiency: <111 pmol/L (<150 ng/L) on 2026-09-02"
    assert card["summary"].startswith(expected)


@pytest.mark.parametrize("topic", list(Topic))
def test_summary_stays_short_with_long_inputs(topic: Topic) -> None:
    long = "Extremely long laboratory display name " * 10
    primary = b12_evidence(reported=long, cutoff=long, unit="ng/L" + "x" * 50)
    finding = Finding(topic=topic, severity=Severity.INFO, title=long, primary=primary, tests=(MMA,) * 3)
    [card, *_] = build_cards([finding], context())
    assert 0 < len(card["summary"]) < 140
    assert_valid_response({"cards": [card]})


def test_source_and_links_are_absolute_and_point_at_the_topic_docs() -> None:
    [card] = build_cards([deficiency()], context())
    catalog = KNOWLEDGE
    assert card["source"] == {
        "label": "myelin-cds",
        "url": f"{BASE}/docs/topics/b12-deficiency",
        "topic": {
            "system": catalog.topic_system,
            "code": "b12-deficiency",
            "display": "Vitamin B12 deficiency",
        },
    }
    urls = [link["url"] for link in card["links"]]
    assert urls[0] == f"{BASE}/docs/topics/b12-deficiency"
    assert f"{BASE}/docs/sources/nice-ng239" in urls
    assert "https://www.nice.org.uk/guidance/ng239" in urls  # the source's own public page
    assert f"{BASE}/docs/sources/b12-pathway-2025" in urls
    assert all(link["type"] == "absolute" for link in card["links"])


def test_override_reasons_come_from_topic_data() -> None:
    [card] = build_cards([deficiency()], context())
    codes = [r["code"] for r in card["overrideReasons"]]
    assert codes == [code for code, _display in KNOWLEDGE.topic("b12-deficiency").override_reasons]
    assert {"not-relevant-now", "already-ordered"} <= set(codes)
    assert all(r["display"] and r["system"].endswith("/override-reason") for r in card["overrideReasons"])


# Every topic whose card can suggest tests (the red-flag card refers; the duplicate-therapy
# card removes an order).
SUGGESTS_TESTS = [t for t in Topic if t not in (Topic.B12_DUPLICATE_THERAPY, Topic.TWITCHING_RED_FLAGS)]


@pytest.mark.parametrize("topic", SUGGESTS_TESTS)
def test_every_card_that_can_suggest_tests_offers_not_relevant_now_and_already_ordered(topic) -> None:
    codes = {code for code, _display in KNOWLEDGE.topic(topic.value).override_reasons}
    assert {"not-relevant-now", "already-ordered"} <= codes


def test_detail_has_evidence_causes_advice_caveats_and_gaps_but_no_source_list() -> None:
    [card] = build_cards([deficiency()], context())
    detail = card["detail"]
    assert "| Vitamin B12 | 150 pg/mL | 2026-09-02 08:00 | \\< 180 pg/mL |" in detail
    assert "Metformin (since 2024-03-01)" in detail
    assert KNOWLEDGE.notes["b12-total-late-marker"] in detail
    assert KNOWLEDGE.notes["folate-caution"] in detail
    assert "Active B12: no result in the last 12 months" in detail
    # Sources are the card's links; the detail does not repeat them.
    nice = KNOWLEDGE.sources["nice-ng239"]
    assert nice["url"] not in detail and "**Sources**" not in detail
    assert "Start vitamin B12 replacement" in detail
    headings = ("Evidence", "Likely causes in the chart", "What to do", "Caveats", "Missing or stale data")
    for heading in headings:
        assert f"**{heading}**" in detail


def test_cause_matched_by_text_is_flagged_for_checking() -> None:
    cause = Cause("medication", "metformin", "glucophage", "text")
    [card] = build_cards([deficiency(causes=(cause,))], context())
    assert "glucophage (matched by name only: please verify)" in card["detail"]


def test_hostile_chart_text_cannot_break_the_table_or_add_links() -> None:
    hostile = "5 | [click](https://evil.example) <img src=x onerror=alert(1)>\n# Heading **bold**"
    primary = b12_evidence(reported=hostile, note=hostile)
    finding = deficiency(
        primary=primary,
        evidence=(primary,),
        causes=(Cause("medication", "x", hostile, "text"),),
        gaps=(DataGap(hostile, hostile),),
    )
    [card] = build_cards([finding], context())
    detail = card["detail"]
    # A word a renderer could link is inline code, shown as written and inert there.
    assert "](https://evil" not in re.sub(r"`[^`]*`", "", detail)
    assert re.search(r"(?<!\\)<", detail) is None  # every "<" escaped: no HTML
    assert "\n# " not in detail
    table_rows = [line for line in detail.splitlines() if line.startswith("| Vitamin B12")]
    assert len(table_rows) == 1
    unescaped_pipes = table_rows[0].replace("\\|", "").count("|")
    assert unescaped_pipes == 5  # four cells, untouched by the pipe in the chart text
    assert "`[click](https://evil.example)`" in detail


def test_uuids_are_deterministic_per_hook_instance_and_unique() -> None:
    findings = one_of_each_topic()
    first = build_cards(findings, context())
    again = build_cards(findings, context())
    other = build_cards(findings, context(hook_instance="0f6c1c2e-1111-4222-8333-444455556666"))

    def ids(cards: list[dict]) -> list[str]:
        return [c["uuid"] for c in cards] + [s["uuid"] for c in cards for s in c.get("suggestions", ())]

    assert ids(first) == ids(again)
    assert len(set(ids(first))) == len(ids(first))
    assert not set(ids(first)) & set(ids(other))
    assert all(uuid.UUID(value).version == 5 for value in ids(first))


def test_one_card_per_topic_even_if_the_engine_repeats_one() -> None:
    cards = build_cards([deficiency(), deficiency(severity=Severity.INFO)], context())
    assert [c["source"]["topic"]["code"] for c in cards] == ["b12-deficiency"]


def test_unknown_topic_data_would_fail_loading_not_calls() -> None:
    # Every public topic has card data, so no call can meet a topic without override reasons.
    catalog = KNOWLEDGE
    assert all(catalog.topic(t.value).override_reasons for t in Topic)
    assert all(catalog.topic(t.value).advice for t in Topic)


def test_companion_card_detail_lists_only_the_tests() -> None:
    cards = build_cards([deficiency(tests=(FOLATE,))], context())
    companion = cards[1]
    assert "Order Folate" in companion["detail"]
    assert "Start vitamin B12 replacement" not in companion["detail"]


def test_summary_names_the_grey_zone_result_and_the_marker_that_decided() -> None:
    grey = b12_evidence(
        analyte="holotc",
        display="Active B12 (holotranscobalamin)",
        value=37.4,
        unit="pmol/L",
        reported="37.4 pmol/L",
        cutoff="25-70 pmol/L indeterminate",
    )
    mma = b12_evidence(
        analyte="mma",
        display="Methylmalonic acid",
        value=0.45,
        unit="umol/L",
        reported="450 nmol/L",
        cutoff="> 0.28 umol/L",
        effective="2026-09-10",
        reference="Observation/mma",
    )
    [card] = build_cards([deficiency(primary=grey, evidence=(grey, mma))], context())
    assert card["summary"] == (
        "Vitamin B12 deficiency: active B12 37.4 pmol/L (grey zone) with methylmalonic acid"
        " 450 nmol/L (0.45 umol/L) (cut-off > 0.28 umol/L)"
    )


@pytest.mark.parametrize(
    ("value", "cutoff", "shown"),
    [
        (2.1186, "< 2.12 mmol/L", "2.119"),  # never reads as the cut-off it is below
        (2.12, "< 2.12 mmol/L", "2.12"),
        (150.0, "< 180 ng/L", "150"),
        (179.6, "< 180 ng/L", "179.6"),
        (0.6999, "< 0.7 mmol/L", "0.6999"),
    ],
)
def test_values_are_never_rounded_onto_the_cut_off(value: float, cutoff: str, shown: str) -> None:
    assert shown_number(value, cutoff) == shown


def test_the_caveats_the_engine_chose_are_shown_in_its_order() -> None:
    notes = ("red-flags-present", "b12-review")
    [card] = build_cards([deficiency(notes=notes)], context())
    detail = card["detail"]
    assert detail.index(KNOWLEDGE.notes["red-flags-present"]) < detail.index(KNOWLEDGE.notes["b12-review"])


@pytest.mark.parametrize(
    ("value", "reported", "unit", "shown"),
    [
        (180.215, "133 pmol/L", "ng/L", "180 ng/L"),  # 133 pmol/L has three significant digits
        (178.86, "132 pmol/L", "ng/L", "179 ng/L"),
        (0.4935, "1.2 mg/dL", "mmol/L", "0.49 mmol/L"),
        (0.45, "450 nmol/L", "umol/L", "0.45 umol/L"),
        (2.1186, "2.1186 mmol/L", "mmol/L", "2.1186 mmol/L"),
        (150.0, "150 pg/mL", "ng/L", "150 pg/mL"),  # one number: in the laboratory's unit
    ],
)
def test_values_are_shown_at_the_precision_the_laboratory_reported(value, reported, unit, shown) -> None:
    item = b12_evidence(value=value, reported=reported, unit=unit)
    [card] = build_cards([deficiency(primary=item, evidence=(item,))], context())
    [row] = [line for line in card["detail"].splitlines() if line.startswith("| Vitamin B12")]
    result = row.split(" | ")[1]
    # the laboratory's form first, the converted value second (once when they are one number)
    assert result == (shown if reported.split()[0] == shown.split()[0] else f"{reported} ({shown})")
    assert "180.215" not in card["summary"] + card["detail"]


@pytest.mark.parametrize(
    ("loinc", "value", "reported", "cutoff", "shown", "quoted"),
    [
        # a derived value (no LOINC of its own) is at least as precise as its cut-off
        ("", 2.0, "8.4 mg/dL; albumin 4.5 g/dL", "< 2.12 mmol/L", "2.00 mmol/L", True),
        ("", 2.1186, "8.5 mg/dL; albumin 4.0 g/dL", "< 2.12 mmol/L", "2.119 mmol/L", True),
        ("", 1.5, "6.0 mg/dL; albumin 4.0 g/dL", "< 1.9 mmol/L", "1.5 mmol/L", True),
        # 2 and 2.0 are one number: the reported form is not quoted beside it
        ("2000-8", 2.0, "2 mmol/L", "< 2.12 mmol/L", "2.0 mmol/L", False),
        ("2000-8", 2.0, "8.0 mg/dL", "< 2.12 mmol/L", "2.0 mmol/L", True),
    ],
)
def test_derived_values_keep_the_cut_off_precision_and_equal_numbers_are_not_quoted(
    loinc, value, reported, cutoff, shown, quoted
) -> None:
    item = b12_evidence(
        analyte="calcium_corrected",
        display="Calcium",
        loinc=loinc,
        reported=reported,
        value=value,
        unit="mmol/L",
        cutoff=cutoff,
    )
    [card] = build_cards([deficiency(primary=item, evidence=(item,))], context())
    [row] = [line for line in card["detail"].splitlines() if line.startswith("| Calcium")]
    assert shown in row.split(" | ")[1]
    assert shown in card["summary"]
    assert (f"{reported} (" in card["summary"]) is (quoted and bool(loinc))
