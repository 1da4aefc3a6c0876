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
# Characters that show nothing yet change what is shown: bidi embeddings, overrides, isolates
# and marks (a drug name or unit could display reversed), zero-width spaces and joiners, the
# soft hyphen, invisible operators, the byte-order mark and tag characters. Removed from chart
# text wherever it is shown (summary, detail, labels, descriptions).
_INVISIBLE_CLASS = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\U000e0000-\U000e007f"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CLASS}]+")
# Characters that can open emphasis, code, links, images, HTML, table cells or e-mail
# autolinks. Parentheses need no escape: a link cannot form once "[" and "]" are escaped.
_ACTIVE = frozenset("\\`*_[]<>#!|~@")
# Text that would start a block (list item, setext line) at the start of a cell or item:
# a marker followed by a space, so "7.9 mg/dL" stays as it is.
_BLOCK_START = re.compile(r"^([-+=]|\d+[.)])(?=\s|$)")
# What a renderer may turn into a link with no markup at all: an e-mail address (GFM's extended
# autolinks, linkify), a URL or protocol-relative path ("//"), a host name ("www." alone is one
# in GFM; "evil.com": a dot before a letter, the start of any top-level domain) or an IPv4
# address (linkify's fuzzyIP). Escaping does not stop these: renderers look for links in the
# text after unescaping it. Every alternative looks at a fixed number of characters or one digit run: linear.
_LINKABLE = re.compile(r"[@]|//|(?i:www)\.|\.(?=[^\W\d_])|(?<=\d)\.\d+\.(?=\d)")
# Separators of the words checked for links: a space, and "|" (a table cell's edge in GFM).
_WORDS = re.compile(r"([ |])")


# Text with none of these is already one line and needs no escaping; most card text is
# like that, and the check is one regex scan instead of several passes.
_ONE_LINE_ALREADY = re.compile(r"[^\S ]|[\x00-\x1f\x7f\u2028\u2029" + _INVISIBLE_CLASS + r"]|^ | $|  ")
_PLAIN_ALREADY = re.compile(
    _ONE_LINE_ALREADY.pattern + r"|[\\`*_\[\]<>#!|~@]|//|(?i:www)\.|\.(?=[^\W\d_])|(?<=\d)\.\d+\.(?=\d)"
    r"|^(?:[-+=]|\d+[.)])(?=\s|$)"
)


def one_line(text: str) -> str:
    """Collapse line breaks and control characters so text cannot start a new block, and drop
    invisible characters (bidi controls, zero-width) so it shows as it reads."""
    text = clip(text)
    if _ONE_LINE_ALREADY.search(text) is None:
        return text
    return " ".join(_CONTROL.sub(" ", _INVISIBLE.sub("", text)).split())


_ESCAPE_ACTIVE = str.maketrans({ch: "\\" + ch for ch in _ACTIVE})


def _code_span(word: str) -> str:
    """`word` as inline code, shown exactly as it is: no renderer links, formats or unescapes
    anything inside a code span. The fence is longer than any run of backticks in the word."""
    fence = "`" * (max((len(run) for run in re.findall("`+", word)), default=0) + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"


def _escape_word(word: str) -> str:
    return _code_span(word) if _LINKABLE.search(word) else word.translate(_ESCAPE_ACTIVE)


def md_escape_full(text: str) -> str:
    """md_escape without its fast path: what every text goes through when it needs any work."""
    parts = _WORDS.split(one_line(text))
    # Odd places hold the separators: a space stays, a "|" is escaped so no cell ends there.
    escaped = "".join(
        ("\\|" if part == "|" else part) if index % 2 else _escape_word(part)
        for index, part in enumerate(parts)
    )
    return _BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], escaped)


def md_escape(text: str) -> str:
    """Escape text that came from the chart for use anywhere in GitHub markdown: it shows as
    written, starts no block, splits no table cell and never becomes a link (a word a renderer
    could link, such as an e-mail address or a host name, is shown as inline code)."""
    text = clip(text)
    if _PLAIN_ALREADY.search(text) is None:
        return text
    return md_escape_full(text)


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
