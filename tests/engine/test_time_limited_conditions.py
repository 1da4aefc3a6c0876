"""Time-limited conditions expire (pregnancy after about ten months), and a condition's name
matches a time-limited member only when it is one of the reviewed whole names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.engine_fhir import SNOMED, chart, cond, run

# NOW is 2026-11-01


def pregnancy(*, text: str | None = None, code: str | None = "77386006", **dates: Any) -> dict[str, Any]:
    resource = cond(code or "x", SNOMED)
    if code is None:
        resource["code"] = {"text": text}
    elif text:
        resource["code"]["text"] = text
    resource.update(dates)
    return resource


def members(resource: dict[str, Any]) -> list[str]:
    return [c.member for c in run(chart(conditions=[resource])).facts.conditions]


@pytest.mark.parametrize(
    ("dates", "current"),
    [
        ({"onsetDateTime": "2026-06-01"}, True),
        ({"recordedDate": "2026-01-15"}, True),  # 9.5 months ago
        ({"recordedDate": "2025-12-31"}, False),  # just over ten months ago
        ({"onsetDateTime": "2017-05-01"}, False),  # nine years ago, still "active"
        ({"onsetDateTime": "2017-05-01", "recordedDate": "2026-10-01"}, True),  # recorded recently
        ({"onsetPeriod": {"start": "2019-01-01"}}, False),
        ({}, True),  # no date: the status stands
    ],
)
def test_pregnancy_expires_after_its_window(dates, current):
    assert ("pregnancy" in members(pregnancy(**dates))) is current


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("Pregnancy", True),
        ("Pregnant", True),
        ("Normal pregnancy", True),
        ("Tubal pregnancy", False),
        ("Ectopic pregnancy", False),
        ("History of pregnancy", False),
        ("Pregnancy test negative", False),
    ],
)
def test_pregnancy_name_matches_only_reviewed_whole_names(text, matched):
    assert ("pregnancy" in members(pregnancy(text=text, code=None, onsetDateTime="2026-09-01"))) is matched


def test_other_conditions_do_not_expire():
    old = cond("D51.0")
    old["onsetDateTime"] = "1990-01-01"
    assert members(old)  # pernicious anaemia recorded decades ago still counts
