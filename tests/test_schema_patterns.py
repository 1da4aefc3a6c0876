"""Schema patterns keep their ECMA-262 meaning: `$` ends the text, `\\d` is 0-9."""

from __future__ import annotations

import re

import pytest

from cds.schemas import fast_check_for, validator_for
from cds.schemas.patterns import ecma_to_python


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^[a-z]+$", "abc", True),
        (r"^[a-z]+$", "abc\n", False),
        (r"^\d{2}$", "12", True),
        (r"^\d{2}$", "١٢", False),  # Arabic-Indic digits are digits to Python, not to ECMA-262
        (r"^[\d.]+$", "1.5", True),
        (r"^[\d.]+$", "١", False),
        (r"^[^$]+$", "a$", False),  # "$" inside a class stays a literal dollar sign
        (r"^\$\d$", "$1", True),  # so does an escaped one
        (r"^\D$", "a", True),
    ],
)
def test_patterns_match_as_ecma_262_says(pattern: str, text: str, matches: bool) -> None:
    assert (re.search(ecma_to_python(pattern), text) is not None) is matches


def test_feedback_timestamp_with_non_ascii_digits_is_invalid_to_both_checks() -> None:
    item = {"card": "9a6a1c43-8f0e-4d5c-9a0e-3f3cf3b7a111", "outcome": "overridden"}
    good = {"feedback": [{**item, "outcomeTimestamp": "2026-11-20T10:15:00Z"}]}
    bad = {"feedback": [{**item, "outcomeTimestamp": "٢٠٢٦-11-20T10:15:00Z"}]}
    for check in (fast_check_for("feedback"), validator_for("feedback").is_valid):
        assert check(good)
        assert not check(bad)
