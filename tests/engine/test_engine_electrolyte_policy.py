"""How electrolytes are acted on: a short window for warnings and treatment advice, recheck
cards for older abnormal results, mild values as info unless symptoms or a fall, magnesium
first when it is low in the same sample, and the caveats a card keeps."""

from __future__ import annotations

import pytest

from cds.engine.caveats import MAX_CAVEATS, chosen_caveats
from cds.engine.model import Finding, Severity, Topic
from cds.engine.model import TestRecommendation as Offered
from cds.knowledge import load_knowledge
from tests.engine.engine_fhir import KNOWLEDGE, chart, cond, finding, med, obs, run, topics

MG, K, NA, ION = "2601-3", "2823-3", "2951-2", "1995-0"


# ---------------------------------------------------------------- windows and recheck
@pytest.mark.parametrize(
    ("day", "severity", "title"),
    [
        ("2026-10-03", "warning", "Low magnesium"),  # 29 days before now
        ("2026-10-01", "info", "Recheck low magnesium (31 days ago)"),
        ("2026-09-04", "info", "Recheck low magnesium (58 days ago)"),
        ("2025-10-30", None, None),  # beyond the year: history, no card
    ],
)
def test_an_abnormal_electrolyte_older_than_its_window_asks_for_a_recheck_not_treatment(day, severity, title):
    found = finding(run(chart([obs(MG, 0.55, "mmol/L", day)])), "hypomagnesemia")
    assert (found.severity if found else None) == severity
    if found is not None:
        assert found.title == title
    if severity == "info":
        assert [t.key for t in found.tests] == ["magnesium"]
        assert found.advice == ("electrolyte-recheck",)  # no "replace magnesium" on an old result


@pytest.mark.parametrize(
    ("analyte", "value", "title"),
    [(K, 3.0, "Recheck low potassium"), (K, 6.2, "Recheck high potassium"), (NA, 128, "Recheck low sodium")],
)
def test_a_potassium_or_sodium_months_old_is_a_recheck_card(analyte, value, title):
    found = finding(run(chart([obs(analyte, value, "mmol/L", "2026-02-01")])), "electrolyte-imbalance")
    assert found.severity == "info" and found.title.startswith(title)


def test_the_electrolyte_window_is_a_site_setting():
    three_days = load_knowledge({"electrolyte_recent_days": 3})
    found = finding(
        run(chart([obs(K, 3.0, "mmol/L", "2026-10-27")]), knowledge=three_days), "electrolyte-imbalance"
    )
    assert found.severity == "info" and found.title.startswith("Recheck")


# ---------------------------------------------------------------- mild values
@pytest.mark.parametrize(
    ("labs", "conditions", "severity"),
    [
        ([obs(NA, 132, "mmol/L", "2026-10-31")], [], "info"),
        ([obs(NA, 132, "mmol/L", "2026-10-31")], [cond("R25.3")], "warning"),  # twitching
        ([obs(NA, 132, "mmol/L", "2026-10-31")], [cond("R25.2")], "warning"),  # cramps
        (
            [obs(NA, 132, "mmol/L", "2026-10-31"), obs(NA, 138, "mmol/L", "2026-10-25")],
            [],
            "warning",
        ),  # falling
        ([obs(NA, 132, "mmol/L", "2026-10-31"), obs(NA, 134, "mmol/L", "2026-10-25")], [], "info"),
        ([obs(K, 3.4, "mmol/L", "2026-10-31")], [], "info"),
        ([obs(K, 3.2, "mmol/L", "2026-10-31")], [], "warning"),
    ],
)
def test_mild_values_are_info_unless_symptoms_or_a_falling_trend(labs, conditions, severity):
    found = finding(run(chart(labs, conditions=conditions)), "electrolyte-imbalance")
    assert found.severity == severity


def test_a_site_can_silence_mild_values():
    silent = load_knowledge({"mild_electrolyte_silent": 1})
    assert topics(run(chart([obs(NA, 132, "mmol/L", "2026-10-31")]), knowledge=silent)) == []
    twitching = chart([obs(NA, 132, "mmol/L", "2026-10-31")], conditions=[cond("R25.3")])
    assert "electrolyte-imbalance" in topics(run(twitching, knowledge=silent))


# ---------------------------------------------------------------- magnesium first
@pytest.mark.parametrize(
    ("mg_day", "linked"), [("2026-10-31T09:00:00Z", True), ("2026-10-29T08:00:00Z", False)]
)
def test_low_magnesium_in_the_same_sample_links_the_calcium_and_potassium_cards(mg_day, linked):
    labs = [
        obs(MG, 0.45, "mmol/L", mg_day),
        obs(K, 2.3, "mmol/L", "2026-10-31T08:00:00Z"),
        obs(ION, 1.02, "mmol/L", "2026-10-31T08:00:00Z"),
    ]
    result = run(chart(labs))
    magnesium = finding(result, "hypomagnesemia")
    for topic, note in (
        ("hypocalcemia", "magnesium-first-calcium"),
        ("electrolyte-imbalance", "magnesium-first-potassium"),
    ):
        card = finding(result, topic)
        assert (note in card.notes) is linked  # each card names its own analyte, never the other's
        assert (card.see_also == (magnesium.title,)) is linked
    assert (len(magnesium.see_also) == 2) is linked
    if linked:
        assert "hypomagnesemia-calcium" not in magnesium.notes  # the linked cards say it
        # beside a critical potassium, magnesium is replaced intravenously too
        assert magnesium.advice == ("magnesium-severe-replace",)


# ---------------------------------------------------------------- caveats
def _finding(notes, tests=(), fitting=()):
    return Finding(
        Topic.B12_DEFICIENCY,
        Severity.WARNING,
        "x",
        notes=notes,
        tests=tuple(Offered(k, "", k, "") for k in tests),
        fitting_notes=fitting,
    )


@pytest.mark.parametrize(
    ("notes", "tests", "fitting", "kept"),
    [
        # safety-critical first, then in the rule's order; at most two
        (
            ("b12-review", "folate-caution", "b12-neuro-urgency", "mma-renal"),
            (),
            (),
            ("b12-neuro-urgency", "folate-caution"),
        ),
        (("b12-review", "mma-renal", "red-flags-present"), (), (), ("red-flags-present", "b12-review")),
        # a note that fits this chart comes first whatever its priority
        (
            ("b12-on-therapy", "b12-review", "b12-twitching-flare"),
            (),
            ("b12-twitching-flare",),
            ("b12-twitching-flare", "b12-on-therapy"),
        ),
        # a note asking for a test the card offers is not said again
        (("hypomagnesemia-calcium", "b12-review"), ("calcium", "potassium"), (), ("b12-review",)),
        (
            ("hypomagnesemia-calcium", "b12-review"),
            ("calcium",),
            (),
            ("hypomagnesemia-calcium", "b12-review"),
        ),
        ((), (), (), ()),
    ],
)
def test_the_engine_keeps_the_caveats_that_fit_and_say_something_new(notes, tests, fitting, kept):
    found = _finding(notes, tests, fitting)
    covered = {t.key for t in found.tests}
    assert chosen_caveats(found, covered, KNOWLEDGE) == kept
    assert len(kept) <= MAX_CAVEATS


def test_twitching_since_b12_was_started_keeps_the_flare_caveat_on_the_monitoring_card():
    therapy = med("MedicationStatement", rxnorm="11248", start="2026-09-01")
    result = run(chart([obs("2132-9", 150, "pg/mL")], statements=[therapy], conditions=[cond("R25.3")]))
    assert finding(result, "b12-treatment-monitoring").notes[0] == "b12-twitching-flare"


@pytest.mark.parametrize(
    ("values", "falling"),
    [
        ([3.4, 3.5, 3.6], False),  # down by 0.2 in all: less than 0.3
        ([3.4, 3.6, 3.8], True),
        ([3.4, 3.7, 3.5], False),  # up and down, as intensive-care results go: no trend
        ([3.4, 3.8], True),
    ],
)
def test_a_trend_is_a_steady_move_away_from_normal(values, falling):
    labs = [obs(K, v, "mmol/L", f"2026-10-{31 - i:02d}T08:00:00Z") for i, v in enumerate(values)]
    found = finding(run(chart(labs)), "electrolyte-imbalance")
    assert found.severity == ("warning" if falling else "info")


def test_a_card_never_points_at_a_card_goals_of_care_took_away():
    labs = [obs(MG, 0.45, "mmol/L", "2026-10-31"), obs(K, 3.2, "mmol/L", "2026-10-31")]
    result = run(chart(labs, conditions=[cond("Z51.5")]))
    assert topics(result) == ["hypomagnesemia"]
    assert result.findings[0].see_also == ()


def test_a_ppi_started_weeks_ago_is_not_named_as_the_cause_of_low_magnesium():
    weeks = med(rxnorm="7646", start="2026-10-01")
    years = med(rxnorm="7646", start="2023-10-01")
    assert (
        finding(run(chart([obs(MG, 0.6, "mmol/L", "2026-10-31")], meds=[weeks])), "hypomagnesemia").causes
        == ()
    )
    long_term = finding(run(chart([obs(MG, 0.6, "mmol/L", "2026-10-31")], meds=[years])), "hypomagnesemia")
    assert [c.key for c in long_term.causes] == ["ppi"]


def test_one_diagnosis_record_is_one_line_however_many_members_it_matched():
    twitching = cond("R25.3")
    twitching["code"]["coding"][0]["display"] = "Facial twitching"
    found = finding(run(chart([obs("2132-9", 150, "pg/mL")], conditions=[twitching])), "b12-deficiency")
    assert len(found.symptoms) == 1 and found.symptoms[0].matched_by == "icd10"


@pytest.mark.parametrize(
    ("labs", "title", "grade"),
    [
        (
            [obs(MG, 0.45, "mmol/L", "2026-09-20")],
            "Recheck severely low magnesium (42 days ago)",
            "severely low",
        ),
        ([obs(MG, 0.6, "mmol/L", "2026-09-20")], "Recheck low magnesium (42 days ago)", "low"),
        (
            [obs("29265-6", 1.85, "mmol/L", "2026-09-20")],
            "Recheck severely low calcium (42 days ago)",
            "severely low",
        ),
        (
            [obs(K, 6.6, "mmol/L", "2026-09-20")],
            "Recheck severely high potassium (42 days ago)",
            "severely high",
        ),
        ([obs(NA, 150, "mmol/L", "2026-09-20")], "Recheck high sodium (42 days ago)", "high"),
    ],
)
def test_a_recheck_card_keeps_how_abnormal_the_old_result_was(labs, title, grade):
    [found] = run(chart(labs)).findings
    assert (found.severity, found.title, found.primary.grade) == ("info", title, grade)
