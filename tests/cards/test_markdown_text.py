"""Chart text in card markdown: inert, yet readable when an EHR shows the raw markdown."""

from __future__ import annotations

import pytest

from cds.cards.text import md_escape


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("7.9 mg/dL", "7.9 mg/dL"),  # a number is not a list marker
        ("Metformin (since 2024-03-01)", "Metformin (since 2024-03-01)"),
        ("ratio: high", "ratio: high"),
        ("1. first", "1\\. first"),  # would start an ordered list
        ("- item", "\\- item"),
        ("a | b", "a \\| b"),  # would split a table cell
        ("[x](y)", "\\[x\\](y)"),  # no link without its brackets
        ("see https://evil.example", "see `https://evil.example`"),  # no autolink: inline code
        ("www.evil.example", "`www.evil.example`"),
        ("mail evil@evil.example", "mail `evil@evil.example`"),
        ("a`b.com", "``a`b.com``"),  # the fence is longer than the word's backticks
        ("Metformin\u202e 500\u200b mg", "Metformin 500 mg"),  # bidi and zero-width removed
        ("<b>", "\\<b\\>"),
        ("**bold** _it_ `code`", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\`"),
        ("line\n# heading", "line \\# heading"),
    ],
)
def test_md_escape(raw: str, shown: str) -> None:
    assert md_escape(raw) == shown
