"""Fixture loading and date shifting (used by replay over HTTP and by the preview page)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.tools.fixtures import FixtureError, fixture_paths, load_fixture, request_for, shift_dates

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("2026-10-15", 38, "2026-11-22"),
        ("2026-10-15T09:30:00Z", 38, "2026-11-22T09:30:00Z"),
        ("2024-02-28T23:59:59.123+02:00", 1, "2024-02-29T23:59:59.123+02:00"),
        ("2026-12-31", 1, "2027-01-01"),
        ("2026-03-01", -1, "2026-02-28"),
    ],
)
def test_dates_and_datetimes_move_by_whole_days(value: str, days: int, expected: str) -> None:
    assert shift_dates({"when": value}, days) == {"when": expected}


@pytest.mark.parametrize(
    "value", ["2132-9", "pt-1001", "MRN0001002", "2026-13-45", "11d49a1d-664c-5272-9467-d82b1b61486c", "2026"]
)
def test_other_strings_are_left_alone(value: str) -> None:
    assert shift_dates([value], 400) == [value]


def test_request_for_moves_the_scenario_to_the_given_day() -> None:
    fixture = load_fixture(FIXTURES / "twitching-no-labs.json")
    shifted = request_for(fixture, datetime(2027, 1, 1, 12, tzinfo=UTC))
    onset = shifted["prefetch"]["conditions"]["entry"][0]["resource"]["onsetDateTime"]
    assert onset == "2026-12-18"  # 14 days before the scenario's now, as in the original
    assert fixture.request["prefetch"]["conditions"]["entry"][0]["resource"]["onsetDateTime"] == "2026-10-01"


def test_directories_expand_to_fixtures_without_goldens(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "a.expected.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in fixture_paths([tmp_path])] == ["a.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        (json.dumps({"now": "2026-01-01T00:00:00Z", "service": "x"}), "field 'request'"),
        (json.dumps({"now": "yesterday", "service": "x", "request": {}}), "not an RFC 3339"),
        (json.dumps({"now": "2026-01-01T00:00:00", "service": "x", "request": {}}), "no time zone"),
    ],
)
def test_bad_fixtures_are_refused_with_the_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(FixtureError, match=message):
        load_fixture(path)


def test_golden_files_named_explicitly_are_not_replayed_as_fixtures(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "a.expected.json").write_text("{}")
    named = [tmp_path / "a.expected.json", tmp_path / "a.json"]
    assert fixture_paths(named) == [tmp_path / "a.json"]
