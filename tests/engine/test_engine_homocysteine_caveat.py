"""A grey-zone B12 settled by a raised homocysteine alone carries the caveat that other
conditions raise homocysteine too; MMA (more specific) does not need it."""

from __future__ import annotations

import pytest

from tests.cards.card_helpers import build_cards, context
from tests.engine.engine_fhir import chart, cond, finding, obs, run

B12 = "2132-9"
MMA = "13964-2"
HCY = "13965-9"
NOTE = "homocysteine-nonspecific"
TWITCHING = "R25.3"


@pytest.mark.parametrize(
    ("markers", "topic", "caveat"),
    [
        ([obs(HCY, 22, "umol/L", "2026-10-02")], "b12-deficiency", True),  # homocysteine alone
        (
            [obs(HCY, 22, "umol/L", "2026-10-02"), obs(MMA, 0.2, "umol/L", "2026-10-02")],
            "b12-deficiency",
            True,
        ),
        (
            [obs(HCY, 22, "umol/L", "2026-10-02"), obs(MMA, 0.5, "umol/L", "2026-10-02")],
            "b12-deficiency",
            False,
        ),
        ([obs(MMA, 0.5, "umol/L", "2026-10-02")], "b12-deficiency", False),  # MMA settles it
        ([obs(HCY, 10, "umol/L", "2026-10-02")], None, False),  # normal: no finding
        ([], "b12-indeterminate", False),
    ],
)
def test_homocysteine_alone_carries_the_nonspecific_caveat(markers, topic, caveat):
    result = run(chart([obs(B12, 250, "pg/mL", "2026-10-01"), *markers]))
    if topic is None:
        assert finding(result, "b12-deficiency") is None and finding(result, "b12-indeterminate") is None
        return
    found = finding(result, topic)
    assert (NOTE in found.notes) is caveat


def test_a_deficiency_below_the_cutoff_does_not_carry_it():
    result = run(chart([obs(B12, 150, "pg/mL", "2026-10-01"), obs(HCY, 22, "umol/L", "2026-10-02")]))
    assert NOTE not in finding(result, "b12-deficiency").notes


@pytest.mark.parametrize(
    ("conditions", "first"), [([], "Only homocysteine"), ([cond(TWITCHING)], "Neurological")]
)
def test_the_card_shows_it_among_at_most_two_caveats(conditions, first):
    labs = [obs(B12, 250, "pg/mL", "2026-10-01"), obs(HCY, 22, "umol/L", "2026-10-02")]
    found = finding(run(chart(labs, conditions=conditions)), "b12-deficiency")
    card = next(
        c for c in build_cards([found], context()) if c["source"]["topic"]["code"] == "b12-deficiency"
    )
    caveats = card["detail"].split("Caveats", 1)[1].split("\n\n")[1].splitlines()
    caveats = [line for line in caveats if line.startswith("- ")]
    assert len(caveats) == 2
    assert caveats[0].startswith(f"- {first}")
    assert any("underactive thyroid" in line and "MMA is more specific" in line for line in caveats)
