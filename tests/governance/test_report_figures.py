"""The report's figures against a known set of cards, feedback and calls."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from cds.governance.figures import (
    CardFact,
    FatigueRule,
    FeedbackFact,
    as_csv,
    as_table,
    build_report,
    final_outcomes,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
SCREEN, SIGN = "deficiency-screen", "deficiency-order-sign"


def card(n: int, topic: str, mode: str = "active", service: str = SCREEN, days: int = 0) -> CardFact:
    return CardFact(
        f"c{n}", service, topic, T0 + timedelta(days=days, minutes=n), mode, {f"s{n}": f"Order test {n}"}
    )


def fb(n: int, card_uuid: str, outcome: str, minute: int = 0, reason: str | None = None,
       service: str = SCREEN, accepted: tuple[str, ...] = ()) -> FeedbackFact:  # fmt: skip
    stamp = (T0 + timedelta(days=30, minutes=minute)).isoformat()
    return FeedbackFact(n, service, card_uuid, outcome, stamp, accepted, reason)


def test_figures_per_topic_from_a_known_set() -> None:
    cards = [
        card(1, "b12-deficiency"),
        card(2, "b12-deficiency"),
        card(3, "b12-deficiency", days=7),
        card(4, "b12-deficiency", days=7),
        card(5, "twitching-workup", mode="silent"),
        card(6, "twitching-workup", mode="silent", days=7),
        card(7, "b12-duplicate-therapy", service=SIGN),
    ]
    feedback = [
        fb(1, "c1", "accepted", accepted=("s1",)),
        fb(2, "c2", "overridden", reason="patient-declined"),
        # repeated: the EHR resends the same outcome; the card counts once
        fb(3, "c2", "overridden", reason="patient-declined"),
        # a later change of mind: the latest outcome decides
        fb(4, "c3", "accepted", minute=1, accepted=("s3",)),
        fb(5, "c3", "overridden", minute=5, reason="treated-elsewhere"),
        fb(6, "c7", "overridden", service=SIGN),  # no reason given
        fb(7, "c5", "accepted"),  # a silent card was never shown: unmatched, not counted
        fb(8, "c1", "accepted", service=SIGN),  # another service's card: not counted
    ]
    report = build_report(
        cards, feedback, calls_by_service={SCREEN: 10, SIGN: 4}, unmatched_feedback=3,
        fatigue=FatigueRule(window=50, threshold=0.7, min_cards=10), modes={"twitching-workup": "silent"},
    )  # fmt: skip
    data = report.as_json()
    assert data["calls"] == 14 and data["unmatchedFeedback"] == 3
    topics = {(t["service"], t["topic"]): t for t in data["topics"]}
    b12 = topics[(SCREEN, "b12-deficiency")]
    counts = (b12["shown"], b12["silent"], b12["accepted"], b12["overridden"], b12["noFeedback"])
    assert counts == (4, 0, 1, 2, 1)
    assert b12["overrideReasons"] == {"patient-declined": 1, "treated-elsewhere": 1}
    assert b12["acceptedSuggestions"] == {"Order test 1": 1}
    assert (b12["acceptanceRate"], b12["overrideRate"], b12["firingRate"]) == (0.25, 0.5, 0.4)
    workup = topics[(SCREEN, "twitching-workup")]
    assert (workup["shown"], workup["silent"], workup["mode"]) == (0, 2, "silent")
    assert workup["overrideRate"] is None
    assert workup["firingRate"] == 0.2
    dup = topics[(SIGN, "b12-duplicate-therapy")]
    assert dup["overridden"] == 1 and dup["overrideReasons"] == {"unspecified": 1}
    weeks = data["weeks"]
    assert [w["start"] for w in weeks] == ["2026-11-02", "2026-11-09"]
    first = weeks[0]
    assert (first["shown"], first["accepted"], first["overridden"], first["silent"]) == (3, 1, 2, 1)
    assert (weeks[1]["shown"], weeks[1]["overridden"], weeks[1]["noFeedback"]) == (2, 1, 1)
    assert not any(t["fatigueRisk"] for t in data["topics"])  # too few cards to judge


def test_latest_outcome_wins_by_outcome_time_then_arrival() -> None:
    items = [fb(1, "c1", "overridden", minute=9), fb(2, "c1", "accepted", minute=3), fb(3, "c2", "accepted"),
             fb(4, "c2", "overridden")]  # fmt: skip
    outcomes = final_outcomes(items)
    assert outcomes["c1"].outcome == "overridden"  # sent first, but the later action
    assert outcomes["c2"].outcome == "overridden"  # same time: the later arrival


def _fatigue_case(overridden_recent: int, window: int = 10) -> bool:
    # 20 old cards all accepted, then `window` recent ones of which some are overridden
    cards = [card(i, "hypomagnesemia", days=i) for i in range(30)]
    feedback = [fb(i, f"c{i}", "accepted") for i in range(20)]
    recent = range(30 - overridden_recent, 30)
    feedback += [fb(100 + i, f"c{i}", "overridden", reason="not-relevant-now") for i in recent]
    report = build_report(cards, feedback, calls_by_service={SCREEN: 30}, unmatched_feedback=0,
                          fatigue=FatigueRule(window=window, threshold=0.7, min_cards=10))  # fmt: skip
    return report.topics[0].fatigue_risk


def test_fatigue_flag_looks_at_the_recent_window_only() -> None:
    assert _fatigue_case(7) is True  # 7 of the last 10 overridden: 70% reaches the threshold
    assert _fatigue_case(6) is False  # 60%: below
    assert _fatigue_case(7, window=30) is False  # over all 30 cards only 23%


def test_fatigue_needs_enough_recent_cards() -> None:
    cards = [card(i, "hypomagnesemia") for i in range(5)]
    feedback = [fb(i, f"c{i}", "overridden") for i in range(5)]
    report = build_report(cards, feedback, calls_by_service={}, unmatched_feedback=0,
                          fatigue=FatigueRule(window=50, threshold=0.7, min_cards=10))  # fmt: skip
    assert report.topics[0].override_rate == 1.0 and not report.topics[0].fatigue_risk


def test_fatigue_flag_appears_in_every_form() -> None:
    cards = [card(i, "hypomagnesemia") for i in range(10)] + [card(20, "hypocalcemia")]
    feedback = [fb(i, f"c{i}", "overridden", reason="not-relevant-now") for i in range(10)]
    report = build_report(cards, feedback, calls_by_service={SCREEN: 11}, unmatched_feedback=0,
                          fatigue=FatigueRule(window=10, threshold=0.7, min_cards=10))  # fmt: skip
    flags = {t["topic"]: t["fatigueRisk"] for t in report.as_json()["topics"]}
    assert flags == {"hypomagnesemia": True, "hypocalcemia": False}
    rows = {r["topic"]: r for r in csv.DictReader(io.StringIO(as_csv(report)))}
    assert rows["hypomagnesemia"]["fatigueRisk"] == "FATIGUE RISK"
    assert rows["hypocalcemia"]["fatigueRisk"] == ""
    assert rows["hypomagnesemia"]["overrideReasons"] == "not-relevant-now=10"
    table = as_table(report).splitlines()
    assert "RISK 100%" in next(line for line in table if line.startswith(f"{SCREEN}  hypomagnesemia"))
    assert "RISK" not in next(line for line in table if line.startswith(f"{SCREEN}  hypocalcemia"))


def test_a_silent_topic_shows_the_calls_it_would_have_fired_on_in_every_form() -> None:
    def on(n: int, topic: str, hook: str, mode: str = "active") -> CardFact:
        return CardFact(f"c{n}", SCREEN, topic, T0 + timedelta(minutes=n), mode, {}, hook)

    cards = [
        on(1, "twitching-workup", "h1", "silent"),
        on(2, "twitching-workup", "h2", "silent"),
        on(3, "twitching-workup", "h2", "silent"),  # a second card on the same call: one call
        on(4, "twitching-workup", "h3", "silent"),
        on(5, "b12-testing-recommended", "h1"),
        on(6, "b12-testing-recommended", "h4"),
    ]
    report = build_report(cards, [], calls_by_service={SCREEN: 40}, unmatched_feedback=0,
                          fatigue=FatigueRule(), modes={"twitching-workup": "silent"})  # fmt: skip
    topics = {t["topic"]: t for t in report.as_json()["topics"]}
    workup = topics["twitching-workup"]
    assert (workup["silentCalls"], workup["silentCallShare"], workup["shownCalls"]) == (3, 0.075, 0)
    assert workup["firingRate"] == 0.1  # 4 cards per 40 calls; the share of calls is 3 in 40
    b12 = topics["b12-testing-recommended"]
    assert (b12["shownCalls"], b12["shownCallShare"], b12["silentCalls"]) == (2, 0.05, 0)
    rows = {r["topic"]: r for r in csv.DictReader(io.StringIO(as_csv(report)))}
    csv_workup = rows["twitching-workup"]
    assert (csv_workup["silentCalls"], csv_workup["silentCallShare"]) == ("3", "0.075")
    table = as_table(report).splitlines()
    assert "silent on calls" in next(line for line in table if line.startswith("service"))
    workup_line = next(line for line in table if line.startswith(f"{SCREEN}  twitching-workup"))
    assert "3 (7.5%)" in workup_line
    assert "2 (5.0%)" in next(line for line in table if line.startswith(f"{SCREEN}  b12-testing-recommended"))
