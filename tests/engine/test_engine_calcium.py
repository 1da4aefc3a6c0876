"""Low calcium: which calcium decides, what the card offers to settle or treat it, and the
magnesium decision made once on every path."""

from __future__ import annotations

import pytest

from tests.engine.engine_fhir import chart, cond, finding, med, obs, run

DAY = "2026-10-31"  # the day before NOW
IONIZED_LOW = obs("1995-0", 1.05, "mmol/L", DAY)
CORRECTED_LOW = obs("29265-6", 2.0, "mmol/L", DAY)
DERIVED_LOW = [obs("2000-8", 1.95, "mmol/L", DAY), obs("1751-7", 40, "g/L", DAY)]
UNCORRECTED_LOW = obs("2000-8", 1.95, "mmol/L", DAY)
MG_NORMAL = obs("2601-3", 0.85, "mmol/L", DAY)
MG_LOW = obs("2601-3", 0.6, "mmol/L", DAY)
MG_OLD = obs("2601-3", 0.85, "mmol/L", "2026-09-01")  # older than the 30-day window

PATHS = {
    "ionized": [IONIZED_LOW],
    "reported corrected": [CORRECTED_LOW],
    "derived corrected": DERIVED_LOW,
    "uncorrected total": [UNCORRECTED_LOW],
}


def keys(found) -> list[str]:
    return [t.key for t in found.tests]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("magnesium", "offered"), [([], True), ([MG_OLD], True), ([MG_NORMAL], False), ([MG_LOW], False)]
)
def test_magnesium_is_offered_on_every_path_exactly_when_none_is_recent(path, magnesium, offered):
    found = finding(run(chart([*PATHS[path], *magnesium])), "hypocalcemia")
    assert ("magnesium" in keys(found)) is offered
    # never said again as advice or a caveat: the order line (or the magnesium card) says it
    said = [*found.advice, *found.notes]
    assert not any(key in said for key in ("calcium-check-magnesium", "calcium-check-mg-vitd"))


@pytest.mark.parametrize(
    ("labs", "conditions", "decider"),
    [
        ([obs("29265-6", 1.85, "mmol/L", DAY)], [], "calcium_corrected"),
        ([obs("1995-0", 0.95, "mmol/L", DAY)], [], "calcium_ionized"),
        ([obs("29265-6", 2.05, "mmol/L", DAY)], [cond("R29.0")], "calcium_corrected"),  # tetany
        ([obs("29265-6", 2.05, "mmol/L", DAY)], [cond("R56.9")], "calcium_corrected"),  # seizure
    ],
)
def test_severe_or_symptomatic_hypocalcaemia_carries_its_emergency_management(labs, conditions, decider):
    found = finding(run(chart(labs, conditions=conditions)), "hypocalcemia")
    assert found.severity == "critical"
    assert found.primary.analyte == decider
    assert found.advice == ("calcium-severe-act",)
    wanted = {"phosphate", "pth", "creatinine", "magnesium"}
    if decider != "calcium_ionized":
        wanted.add("calcium_ionized")
    assert wanted <= set(keys(found))
    assert "vitamin_d" not in keys(found)
    assert "chvostek-sign" not in found.notes  # what to do now, not a sign to look for


@pytest.mark.parametrize(
    ("calcium", "severity"),
    [(1.90, "warning"), (1.89, "critical"), (2.11, "warning"), (2.12, None)],
)
def test_corrected_calcium_grades_at_the_stated_cut_offs(calcium, severity):
    found = finding(run(chart([obs("29265-6", calcium, "mmol/L", DAY)])), "hypocalcemia")
    assert (found.severity if found else None) == severity


@pytest.mark.parametrize(
    ("ionized_at", "total_at", "low"),
    [
        (
            "2026-10-21T08:00:00Z",
            "2026-10-31T08:00:00Z",
            False,
        ),  # the chart: the newer normal decides
        ("2026-10-30T09:00:00Z", "2026-10-31T08:00:00Z", True),  # within 24 hours: ionized preferred
        ("2026-10-30T07:00:00Z", "2026-10-31T08:00:00Z", False),  # 25 hours: the newer decides
        ("2026-10-31T09:00:00Z", "2026-10-21T08:00:00Z", True),  # the ionized is the newer
    ],
)
def test_the_newest_calcium_decides_and_ionized_wins_only_when_taken_together(ionized_at, total_at, low):
    labs = [
        obs("1995-0", 1.09, "mmol/L", ionized_at),
        obs("17861-6", 9.9, "mg/dL", total_at),
        obs("1751-7", 3.4, "g/dL", total_at),  # corrected 2.59 mmol/L: normal
    ]
    found = finding(run(chart(labs, conditions=[cond("R25.3")])), "hypocalcemia")
    assert (found is not None) is low
    if found is not None:
        # the normal total calcium is on the card too, with how long ago it was taken
        [other] = [e for e in found.evidence if e.analyte == "calcium_corrected"]
        assert "not low" in other.note and "ago" in other.note


@pytest.mark.parametrize(
    ("albumin", "conditions", "ionized"),
    [
        (25, [], True),  # below the 30 g/L at which correction is unreliable
        (29, [], True),
        (30, [], False),
        (40, [cond("C90.0")], True),  # myeloma: a paraprotein makes correction unreliable
    ],
)
def test_ionized_calcium_is_offered_only_where_correction_is_unreliable(albumin, conditions, ionized):
    labs = [obs("2000-8", 1.75, "mmol/L", DAY), obs("1751-7", albumin, "g/L", DAY)]
    # 1.75 + 0.02 x (40 - albumin): 2.05 at 25, 1.97 at 29, 1.95 at 30, 1.75 at 40 (severe)
    found = finding(run(chart(labs, conditions=conditions)), "hypocalcemia")
    assert ("calcium_ionized" in keys(found)) is (ionized or found.severity == "critical")
    assert "calcium-confirm-ionized" not in found.advice  # the order's reason says it
    if conditions:
        assert "calcium-paraprotein" in found.notes


@pytest.mark.parametrize(
    ("calcium_day", "tests"),
    [
        (DAY, ["albumin"]),
        ("2026-10-25", ["albumin"]),  # within the 7-day pairing window of now
        ("2026-10-24", ["calcium", "albumin"]),  # older: an albumin alone could never correct it
        ("2026-10-05", ["calcium", "albumin"]),
    ],
)
def test_an_uncorrected_calcium_asks_for_what_can_correct_it(calcium_day, tests):
    found = finding(run(chart([obs("2000-8", 1.95, "mmol/L", calcium_day), MG_NORMAL])), "hypocalcemia")
    assert found.title == "Low total calcium (not corrected for albumin)"
    assert keys(found) == tests
    assert found.severity == "warning"  # never claims severity it cannot know
    assert found.advice == ("calcium-uncorrected",)


def test_an_old_total_calcium_with_a_recent_albumin_repeats_only_the_calcium():
    # The albumin of two days ago corrects a calcium drawn now; measuring it again adds nothing.
    labs = [
        obs("2000-8", 1.95, "mmol/L", "2026-10-05T08:00:00Z"),
        obs("1751-7", 30.0, "g/L", "2026-10-30T08:00:00Z"),
        MG_NORMAL,
    ]
    found = finding(run(chart(labs)), "hypocalcemia")
    assert keys(found) == ["calcium"]


@pytest.mark.parametrize(
    ("albumin", "verdict", "severity"),
    [("3.0", "normal", "info"), ("4.8", "low", "warning")],
)
def test_the_nearest_albumin_outside_the_window_is_shown_with_what_it_would_make(albumin, verdict, severity):
    labs = [
        obs("17861-6", 8.1, "mg/dL", "2026-10-30T08:00:00Z"),
        obs("1751-7", float(albumin), "g/dL", "2026-10-22T08:00:00Z"),  # 8 days earlier
        MG_NORMAL,
    ]
    found = finding(run(chart(labs)), "hypocalcemia")
    assert "8 days earlier" in found.primary.note
    assert found.primary.note.endswith(verdict)
    assert "mg/dL" in found.primary.note.split("about ")[1].split(",")[0]  # the laboratory's unit first
    assert found.severity == severity
    assert not any(g.item == "Albumin" for g in found.gaps)  # named once, in the evidence


@pytest.mark.parametrize(
    ("earlier", "vitamin_d"), [(None, False), ("2026-10-17", True), ("2026-10-18", False)]
)
def test_vitamin_d_is_offered_for_persistent_hypocalcaemia_only(earlier, vitamin_d):
    labs = [obs("29265-6", 2.0, "mmol/L", DAY), MG_NORMAL]
    if earlier:
        labs.append(obs("29265-6", 2.05, "mmol/L", earlier))
    found = finding(run(chart(labs)), "hypocalcemia")
    assert ("vitamin_d" in keys(found)) is vitamin_d


@pytest.mark.parametrize(
    ("conditions", "meds", "note", "test"),
    [
        # parathyroid injury after surgery, thyroid cancer: PTH offered (the order says why, once)
        ([cond("E89.2")], [], None, "pth"),
        ([cond("C73")], [], None, "pth"),
        ([cond("Z98.84")], [], "calcium-bariatric", None),
        ([], [med(rxnorm="2418")], None, None),  # a vitamin D supplement: on record
    ],
)
def test_causes_on_record_change_the_work_up(conditions, meds, note, test):
    found = finding(run(chart([CORRECTED_LOW, MG_NORMAL], conditions=conditions, meds=meds)), "hypocalcemia")
    if note:
        assert note in found.notes
    if test:
        assert test in keys(found)
        assert "calcium-pth" not in found.notes
    if meds:
        assert [r.key for r in found.on_record] == ["vitamin-d"]


@pytest.mark.parametrize(
    ("values", "conditions", "severity"),
    [
        ([1.10], [], "info"),  # within the measurement uncertainty of 1.12
        ([1.09], [], "info"),
        ([1.08], [], "warning"),
        ([1.10], [cond("R25.3")], "warning"),  # twitching documented
        ([1.10, 1.20], [], "warning"),  # falling from an earlier result
    ],
)
def test_a_slightly_low_ionized_calcium_is_info_unless_symptoms_or_a_fall(values, conditions, severity):
    days = [DAY, "2026-10-25"]
    labs = [obs("1995-0", v, "mmol/L", d) for v, d in zip(values, days, strict=False)]
    found = finding(run(chart([*labs, MG_NORMAL], conditions=conditions)), "hypocalcemia")
    assert found.severity == severity


@pytest.mark.parametrize(
    ("albumin", "conditions", "card"),
    [
        (27, [cond("N17.9")], True),  # corrected 2.28 only because albumin is 27 g/L
        (27, [], True),
        (35, [cond("C90.00")], True),  # a paraprotein: correction unreliable at any albumin
        (35, [], False),  # corrected 2.12 with a reliable albumin: normal
    ],
)
def test_a_low_total_calcium_cleared_only_by_an_unreliable_correction_asks_for_ionized(
    albumin, conditions, card
):
    labs = [obs("2000-8", 2.02, "mmol/L", DAY), obs("1751-7", albumin, "g/L", DAY), MG_NORMAL]
    found = finding(run(chart(labs, conditions=conditions)), "hypocalcemia")
    assert (found is not None) is card
    if card:
        assert found.severity == "info" and keys(found) == ["calcium_ionized"]
        assert "unreliable" in found.primary.note
