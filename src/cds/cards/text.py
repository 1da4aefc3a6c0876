"""Text helpers for cards: safe markdown from chart text, short summary lines."""

from __future__ import annotations

import re
from functools import lru_cache

SUMMARY_MAX = 139  # the spec says "< 140 characters"
# Longer text is cut before any other work: no name, unit or note a card quotes is this long
# (reviewed knowledge text stays under 600), and a chart string of megabytes, shown on every
# card, would otherwise be scanned and copied again for each.
SHOWN_MAX = 1000


def clip(text: str) -> str:
    """At most SHOWN_MAX characters, marked with an ellipsis where cut."""
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# Characters that can open emphasis, code, links, images, HTML, table cells or e-mail
# autolinks. Parentheses need no escape: a link cannot form once "[" and "]" are escaped.
_ACTIVE = frozenset("\\`*_[]<>#!|~@")
# Text that would start a block (list item, setext line) at the start of a cell or item:
# a marker followed by a space, so "7.9 mg/dL" stays as it is.
_BLOCK_START = re.compile(r"^([-+=]|\d+[.)])(?=\s|$)")
# URL autolinks ("http://", "www.") are broken up; other colons and dots stay readable.
_WWW = re.compile(r"(?i)\bwww\.")
# Only the colon is matched: a pattern over the scheme's letters would rescan them from every
# word start, quadratic in the text's length.
_SCHEME = re.compile(r":(?=//)")


# Text with none of these is already one line and needs no escaping; most card text is
# like that, and the check is one regex scan instead of several passes.
_ONE_LINE_ALREADY = re.compile(r"[^\S ]|[\x00-\x1f\x7f\u2028\u2029]|^ | $|  ")
_PLAIN_ALREADY = re.compile(
    _ONE_LINE_ALREADY.pattern + r"|[\\`*_\[\]<>#!|~@]|(?i:www)\.|:(?=//)|^(?:[-+=]|\d+[.)])(?=\s|$)"
)


def one_line(text: str) -> str:
    """Collapse line breaks and control characters so text cannot start a new block."""
    text = clip(text)
    if _ONE_LINE_ALREADY.search(text) is None:
        return text
    return " ".join(_CONTROL.sub(" ", text).split())


_ESCAPE_ACTIVE = str.maketrans({ch: "\\" + ch for ch in _ACTIVE})


def md_escape(text: str) -> str:
    """Escape text that came from the chart for use anywhere in GitHub markdown."""
    text = clip(text)
    if _PLAIN_ALREADY.search(text) is None:
        return text
    escaped = one_line(text).translate(_ESCAPE_ACTIVE)
    escaped = _WWW.sub(lambda m: m.group(0)[:-1] + "\\.", escaped)
    escaped = _SCHEME.sub(r"\\:", escaped)
    return _BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], escaped)


_LIGHT = frozenset("\\`*_[]<>|")


_ESCAPE_LIGHT = str.maketrans({ch: "\\" + ch for ch in _LIGHT})


@lru_cache(maxsize=2048)  # knowledge text repeats on every call; chart text never comes here
def md_text(text: str) -> str:
    """Light escaping for reviewed knowledge text: keeps it readable as raw markdown too."""
    return one_line(text).translate(_ESCAPE_LIGHT)


def truncate(text: str, limit: int = SUMMARY_MAX) -> str:
    """Shorten to at most `limit` characters, at a word boundary where possible."""
    text = one_line(text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-(") + "…"


def format_number(value: float) -> str:
    """Up to three significant decimals, no trailing zeros: 150.0 -> '150', 0.123 -> '0.123'."""
    if value != value or value in (float("inf"), float("-inf")):  # NaN/inf: never shown as data
        return "?"
    if abs(value) >= 100:
        shown = f"{value:.0f}"
    elif abs(value) >= 10:
        shown = f"{value:.1f}"
    elif abs(value) >= 1:
        shown = f"{value:.2f}"
    else:
        shown = f"{value:.3f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    return shown


def date_part(effective: str) -> str:
    """The calendar date of an ISO 8601 date or dateTime ('' if there is none)."""
    return effective[:10] if len(effective) >= 10 and effective[4:5] == "-" else one_line(effective)
