"""PatientFacts.results_known: when the chart can tell that a test has no recent result.

The general rule, as boundary tables: an analyte's results are known when a key carrying it
came whole, or is a newest-first page that reaches back past the look-back window; a key not
sent, failed or not FHIR, or a page that stops inside the window, leaves it open.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cds.config import _REPO_ROOT
from cds.engine.facts import PatientFacts, patient_facts
from cds.engine.result_lists import ZONE_AHEAD, last_moment, reaches_back_past
from cds.reader import KeyProblem, KeyState, parse_when, read_chart
from cds.reader.chart import DEFAULT_OBSERVATION_KEYS
from cds.services.definitions import load_services
from tests.engine.engine_fhir import KNOWLEDGE, NOW, PID, bundle, obs

WINDOW = date(2025, 11, 1)  # NOW (2026-11-01) less the 12 months of knowledge.recent_months
SPLIT_KEYS = load_services(_REPO_ROOT / "hooks")["deficiency-screen"].observation_keys
PATIENT = {"resourceType": "Patient", "id": PID, "birthDate": "1970-06-15"}
EMPTY = bundle()


def page(*resources: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    """A first page of a longer newest-first list: a next link (or a larger total)."""
    value = bundle(*resources)
    if total is None:
        value["link"] = [{"relation": "next", "url": "https://ehr.example/fhir/Observation?page=2"}]
    else:
        value["total"] = total
    return value


def potassium(when: str) -> dict[str, Any]:
    return obs("2823-3", 4.1, "mmol/L", when)


def facts_of(
    values: dict[str, Any],
    states: dict[str, KeyState] | None = None,
    keys: Any = SPLIT_KEYS,
) -> PatientFacts:
    chart = read_chart({"patient": PATIENT, **values}, PID, NOW, KNOWLEDGE, states, observation_keys=keys)
    return patient_facts(chart, NOW, KNOWLEDGE)


def test_the_window_these_tables_assume() -> None:
    assert facts_of({}).window_start == WINDOW


# --- how far back a newest-first page must reach --------------------------------------------

PAGE_REACH = [
    # (oldest result on the chemistry page, magnesium known?)
    ("2025-10-31T09:59:59Z", True),  # 14 h 1 s before the window opens: past it in every zone
    ("2025-10-31T10:00:00Z", False),  # 14 h before: UTC+14 dates it on the window's first day
    ("2025-10-31T23:00:00+14:00", True),  # 2025-10-31T09:00Z, dated the day before
    ("2025-11-01T01:00:00+14:00", False),  # before the window opens in UTC, inside it as dated
    ("2025-10-30", True),  # a whole day: its last moment is 24 h before the window opens
    ("2025-10-31", False),  # a day: results later that day may be on the next page
    ("2025-11-01", False),  # exactly to the window's first day
    ("2025-11-04", False),  # inside the window
    ("2026-10-25T08:00:00Z", False),  # an ICU week: far inside
    ("2025-09", True),  # a month: its last moment is 2025-09-30T23:59:59.999999Z
    ("2025-10", False),  # a month that runs to 2025-10-31
    ("2024", True),  # a year
    ("2025", False),  # a year that runs into the window
    ("2019-03-02T08:00:00Z", True),  # years back
]


@pytest.mark.parametrize(("oldest", "known"), PAGE_REACH)
def test_a_newest_first_page_is_complete_only_when_it_reaches_back_past_the_window(
    oldest: str, known: bool
) -> None:
    chemistry = page(potassium("2026-10-30T08:00:00Z"), potassium("2026-06-01T08:00:00Z"), potassium(oldest))
    facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry})
    assert facts.unavailable["chemistryObservations"].partial
    assert facts.results_known("magnesium") is known
    assert facts.results_known("sodium", "albumin") is known
    assert facts.results_known("b12_total", "holotc")  # another family's key came whole


@pytest.mark.parametrize(("oldest", "known"), PAGE_REACH)
def test_a_page_partial_by_its_total_reaches_back_the_same_way(oldest: str, known: bool) -> None:
    chemistry = page(potassium("2026-10-30T08:00:00Z"), potassium(oldest), total=900)
    facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry})
    assert facts.results_known("magnesium") is known


@pytest.mark.parametrize(("oldest", "known"), PAGE_REACH)
def test_reaches_back_past_is_the_zone_margin_from_the_last_moment(oldest: str, known: bool) -> None:
    when = parse_when(oldest)
    assert when is not None
    opens = datetime(2025, 11, 1, tzinfo=UTC)
    assert reaches_back_past(when, WINDOW) is known
    assert known is (opens - last_moment(when) > ZONE_AHEAD)


def test_last_moment_of_dates_of_each_precision() -> None:
    def last(text: str) -> datetime:
        when = parse_when(text)
        assert when is not None
        return last_moment(when)

    tick = timedelta(microseconds=1)
    assert last("2025-12") == datetime(2026, 1, 1, tzinfo=UTC) - tick
    assert last("2024-02-29") == datetime(2024, 3, 1, tzinfo=UTC) - tick
    assert last("2025") == datetime(2026, 1, 1, tzinfo=UTC) - tick
    assert last("2025-06-01T10:00:00+02:00") == datetime(2025, 6, 1, 8, tzinfo=UTC)
    assert last("9999-12-31") == datetime.max.replace(tzinfo=UTC)  # no later day to end at
    far = parse_when("9999")
    assert far is not None and not reaches_back_past(far, WINDOW)


# --- which pages say how far back they reach ------------------------------------------------

ORDER_CASES = [
    # (the page's results, oldest first or not, known?)
    ("newest first", ["2026-10-30T08:00:00Z", "2024-01-01T08:00:00Z"], True),
    ("oldest first: the server ignored _sort", ["2024-01-01T08:00:00Z", "2026-10-30T08:00:00Z"], False),
    ("one result, years back", ["2024-01-01T08:00:00Z"], True),
    ("equal times", ["2024-01-01T08:00:00Z", "2024-01-01T08:00:00Z"], True),
    ("no results at all", [], False),
]


@pytest.mark.parametrize(("case", "times", "known"), ORDER_CASES, ids=[c[0] for c in ORDER_CASES])
def test_only_a_page_seen_in_newest_first_order_says_how_far_back_it_reaches(
    case: str, times: list[str], known: bool
) -> None:
    chemistry = page(*(potassium(t) for t in times))
    facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry})
    assert facts.results_known("magnesium") is known


def test_a_result_dated_by_a_period_or_not_at_all_hides_the_order() -> None:
    by_period = potassium("2024-01-01T08:00:00Z")
    del by_period["effectiveDateTime"]
    by_period["effectivePeriod"] = {"start": "2023-12-31T08:00:00Z", "end": "2024-01-01T08:00:00Z"}
    issued_only = potassium("2024-01-01T08:00:00Z")
    del issued_only["effectiveDateTime"]
    issued_only["issued"] = "2024-01-02T08:00:00Z"
    for last in (by_period, issued_only):
        chemistry = page(potassium("2026-10-30T08:00:00Z"), last)
        facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry})
        assert not facts.results_known("magnesium")
    # effectiveInstant is one moment, as a server sorts it
    instant = potassium("2024-01-01T08:00:00Z")
    instant["effectiveInstant"] = instant.pop("effectiveDateTime")
    facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": page(instant)})
    assert facts.results_known("magnesium")


def test_other_resources_on_the_page_do_not_count() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    chemistry = page(potassium("2026-10-30T08:00:00Z"), outcome, potassium("2024-01-01T08:00:00Z"))
    assert facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry}).results_known("magnesium")


# --- which keys carry which analytes, and in what state ---------------------------------------

SHORT_PAGE = page(potassium("2026-10-30T08:00:00Z"), potassium("2026-10-20T08:00:00Z"))  # inside the window
LONG_PAGE = page(potassium("2026-10-30T08:00:00Z"), potassium("2024-10-20T08:00:00Z"))  # reaches back
NOT_SENT = KeyState("x", KeyProblem.NOT_SENT, "not prefetched")


def split(b12: Any, chemistry: Any) -> dict[str, Any]:
    return {"b12Observations": b12, "chemistryObservations": chemistry}


FAILED = KeyState("x", KeyProblem.FAILED, "the FHIR server did not provide it")

KEY_CASES: list[tuple[str, dict[str, Any], dict[str, KeyState], bool, bool]] = [
    # (case, values, key states given, B12 known?, magnesium known?)
    ("both keys whole", {"b12Observations": EMPTY, "chemistryObservations": EMPTY}, {}, True, True),
    ("B12 key not sent", {"chemistryObservations": EMPTY}, {"b12Observations": NOT_SENT}, False, True),
    ("chemistry key failed", {"b12Observations": EMPTY}, {"chemistryObservations": FAILED}, True, False),
    (
        "chemistry key not FHIR",
        {"b12Observations": EMPTY, "chemistryObservations": "<html>"},
        {},
        True,
        False,
    ),
    ("chemistry page short of the window", split(EMPTY, SHORT_PAGE), {}, True, False),
    ("chemistry page reaching back", split(EMPTY, LONG_PAGE), {}, True, True),
    ("B12 page short of the window", split(SHORT_PAGE, EMPTY), {}, False, True),
    ("the former single key, whole", {"observations": EMPTY}, {}, True, True),
    ("the former single key, short page", {"observations": SHORT_PAGE}, {}, False, False),
    ("the former single key, reaching back", {"observations": LONG_PAGE}, {}, True, True),
    (
        "former key short, current keys whole",
        {"observations": SHORT_PAGE, "b12Observations": EMPTY, "chemistryObservations": EMPTY},
        {},
        True,
        True,
    ),
    (
        "former key whole, chemistry page short",
        {"observations": EMPTY, "b12Observations": EMPTY, "chemistryObservations": SHORT_PAGE},
        {},
        True,
        True,
    ),
    (
        "former key short, chemistry page short",
        {"observations": SHORT_PAGE, "b12Observations": EMPTY, "chemistryObservations": SHORT_PAGE},
        {},
        True,
        False,
    ),
    ("no result key sent or missing", {}, {}, True, True),
    (
        "a medication list missing is no result key",
        {"b12Observations": EMPTY, "chemistryObservations": EMPTY},
        {"medicationStatements": NOT_SENT},
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    ("case", "values", "states", "b12", "magnesium"), KEY_CASES, ids=[c[0] for c in KEY_CASES]
)
def test_results_are_known_per_family_from_the_keys_that_carry_it(
    case: str, values: dict[str, Any], states: dict[str, KeyState], b12: bool, magnesium: bool
) -> None:
    given = {key: KeyState(key, state.problem, state.detail) for key, state in states.items()}
    facts = facts_of(values, given)
    assert facts.results_known("b12_total", "holotc", "mma", "homocysteine") is b12
    assert facts.results_known("magnesium", "calcium_total", "potassium", "sodium") is magnesium
    assert facts.results_known("b12_total", "magnesium") is (b12 and magnesium)
    assert facts.results_known()  # nothing asked, nothing open


def test_a_recent_result_on_a_short_page_settles_its_own_question() -> None:
    chemistry = page(obs("2601-3", 0.85, "mmol/L", "2026-10-30T08:00:00Z"), potassium("2026-10-20T08:00:00Z"))
    facts = facts_of({"b12Observations": EMPTY, "chemistryObservations": chemistry})
    assert facts.recent("magnesium") is not None
    assert facts.results_known("magnesium")  # it has a recent result: the question is answered
    assert not facts.results_known("magnesium", "sodium")  # sodium may be on the next page


def test_the_chart_names_the_keys_that_carry_results() -> None:
    chart = read_chart(
        {"patient": PATIENT, "b12Observations": EMPTY, "observations": EMPTY},
        PID,
        NOW,
        KNOWLEDGE,
        {"chemistryObservations": KeyState("chemistryObservations", KeyProblem.NOT_SENT, "not prefetched")},
        observation_keys=SPLIT_KEYS,
    )
    assert chart.result_keys == {
        "b12Observations": frozenset({"b12_total", "holotc", "mma", "homocysteine"}),
        "chemistryObservations": KNOWLEDGE.analytes_of("chemistry"),
        "observations": frozenset(KNOWLEDGE.labs),
    }
    assert "patient" not in chart.result_keys


def test_a_caller_naming_no_keys_gets_those_of_the_shipped_services() -> None:
    for service in load_services(_REPO_ROOT / "hooks").values():
        assert service.observation_keys == DEFAULT_OBSERVATION_KEYS, service.id
    for values, b12, magnesium in (
        ({"observations": SHORT_PAGE}, False, False),
        (split(SHORT_PAGE, EMPTY), False, True),
        (split(EMPTY, SHORT_PAGE), True, False),
        ({"labs": SHORT_PAGE}, True, True),  # a key nobody declared carries no family
    ):
        facts = facts_of(values, keys=None)
        assert (facts.results_known("b12_total"), facts.results_known("magnesium")) == (b12, magnesium)
