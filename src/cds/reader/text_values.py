"""Results reported as text: a bound or a number the laboratory could only write in words.

Laboratories write a result beyond an assay's reporting limit as text: ">2000", ">2000*.",
"GREATER THAN 2000.", "<150", "< 25 pmol/L". Such a text is read as a comparator, a number and,
where the text states one, a unit; a flag the laboratory appends ("*", "H", "(L)") is ignored.
Anything else in the text ("see comment", "haemolysed, 4.5") means the text is not a value.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Longer text is a comment, not a value: never scanned.
MAX_TEXT = 60

_COMPARATOR_WORDS = {
    ">=": ">=",
    "<=": "<=",
    "≥": ">=",
    "≤": "<=",
    ">": ">",
    "<": "<",
    "greater than or equal to": ">=",
    "more than or equal to": ">=",
    "less than or equal to": "<=",
    "greater than": ">",
    "more than": ">",
    "above": ">",
    "over": ">",
    "less than": "<",
    "below": "<",
    "under": "<",
}
# One anchored pattern without nested repetition: linear in the (already bounded) text.
_VALUE = re.compile(
    r"\s*(?P<cmp>>=|<=|≥|≤|>|<|(?:greater|more)\s+than(?:\s+or\s+equal\s+to)?"
    r"|less\s+than(?:\s+or\s+equal\s+to)?|above|below|over|under)?"
    r"\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s*(?P<unit>[a-zµμ%(][^\s*]*)?"
    r"(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
# Flags laboratories append to a value; they say nothing the number does not.
_FLAGS = frozenset({"", "h", "l", "hh", "ll", "high", "low", "a", "abnormal", "c", "critical"})


class TextValue(NamedTuple):
    comparator: str | None  # "<", "<=", ">", ">=" or None for a plain number
    value: float
    unit: str | None  # as the text spells it


def _flag(text: str) -> bool:
    return text.strip(" \t*.!()[]").lower() in _FLAGS


def read_text_value(text: str) -> TextValue | None:
    """The bound or number a short text states, or None when the text says something else."""
    if len(text) > MAX_TEXT:
        return None
    match = _VALUE.fullmatch(text)
    if match is None:
        return None
    unit = match.group("unit")
    rest = match.group("rest")
    if unit is not None:
        unit = unit.rstrip(".")
        if _flag(unit):  # "150 L": a low flag, not litres
            rest, unit = unit + rest, None
    if not all(_flag(part) for part in rest.split()) and not _flag(rest):
        return None
    words = match.group("cmp")
    comparator = _COMPARATOR_WORDS[" ".join(words.lower().split())] if words else None
    return TextValue(comparator, float(match.group("num").replace(",", "")), unit or None)
