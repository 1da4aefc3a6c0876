"""The plain-text fast paths of one_line and md_escape change nothing they return."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from cds.cards import text as cards_text

# Characters that matter to the escaping rules, plus ordinary letters and Unicode spaces.
ALPHABET = st.sampled_from(
    [
        *"abwW.:/1 -+=)#*_[]<>!|~@\\`",
        *("\t", "\n", "\r", "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "\x00", "\x7f"),
        *("é", "٣", "\u202e", "\u200b", "\u2066", "\ufeff", "\u00ad"),
    ]
)


def full_one_line(text: str) -> str:
    return " ".join(cards_text._CONTROL.sub(" ", cards_text._INVISIBLE.sub("", text)).split())


def full_md_escape(text: str) -> str:
    return cards_text.md_escape_full(text)


@given(text=st.text(ALPHABET, max_size=14))
@example(text="www.example.org")
@example(text="1. first")
@example(text="see http://x")
@example(text="a@b")
@example(text="x.com")
@example(text="1.2.3.4")
@example(text="//x")
@example(text="B12 200 pg/mL")
def test_fast_paths_equal_the_full_escaping(text: str) -> None:
    assert cards_text.one_line(text) == full_one_line(text)
    assert cards_text.md_escape(text) == full_md_escape(text)


def test_plain_text_is_returned_as_it_is() -> None:
    plain = "Vitamin B12 180 pg/mL (2026-10-01)"
    assert cards_text.md_escape(plain) is plain
    assert cards_text.md_escape("a_b") == "a\\_b"
