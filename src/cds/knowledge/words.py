"""Bounds and word forms for chart text and codes: every lookup costs at most a constant."""

from __future__ import annotations

import re

# The longest code any terminology we look up issues is far shorter (LOINC 10 characters,
# SNOMED CT 18, ICD-10-CM 8, RxNorm 8, ATC 7). A longer "code" cannot match anything, so it
# is never looked up: every lookup then costs at most a constant, whatever the request holds.
MAX_CODE_LENGTH = 40


def code_fits(code: str) -> bool:
    """Whether `code` is short enough to be looked up (see MAX_CODE_LENGTH)."""
    return 0 < len(code) <= MAX_CODE_LENGTH


# Condition and medication names run to a few hundred characters at most. Longer chart text is
# not a name: the text fallback ignores it (silence, never a guess from a fragment).
MAX_NAME_LENGTH = 1000


def name_fits(text: str) -> bool:
    """Whether chart text is short enough to be matched against known names."""
    return len(text) <= MAX_NAME_LENGTH


_NON_WORD = re.compile(r"[^a-z0-9]+")
# Every ASCII character that is not a lower-case letter or digit becomes a space: one C-speed
# pass (str.translate) instead of a regex substitution, for the usual all-ASCII text.
_ASCII_WORD_CHARS = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isdigit() or "a" <= chr(c) <= "z")}
)


def word_form(value: str) -> str:
    """Lower-case words separated and surrounded by single spaces, for whole-word matching."""
    lowered = value.lower()
    if lowered.isascii():
        words = lowered.translate(_ASCII_WORD_CHARS).split()
        return " " + " ".join(words) + " " if words else "  "
    return " " + _NON_WORD.sub(" ", lowered).strip() + " "
