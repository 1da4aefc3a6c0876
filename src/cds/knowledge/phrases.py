"""Whole-word phrase lookup for the text fallbacks (condition and medication names)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

Tag = TypeVar("Tag")


class PhraseIndex(Generic[Tag]):
    """Which known phrases occur as whole words in a text.

    Texts and phrases are in word form (lower-case words separated and surrounded by single
    spaces, see `word_form`), so "phrase in text" is a match of consecutive words. A lookup
    works with C-speed operations only, whatever the text: the set of the text's words, then
    for the few phrases all of whose words occur, one substring search each. A loop over the
    text's words in Python would cost a fraction of a microsecond per word, which a body of
    megabytes of short words turns into seconds.
    """

    def __init__(self, phrases: Iterable[tuple[str, Tag]]) -> None:
        by_first: dict[str, list[tuple[str, frozenset[str], Tag]]] = {}
        for phrase, tag in phrases:
            words = phrase.split()
            if words:
                padded = " " + " ".join(words) + " "
                by_first.setdefault(words[0], []).append((padded, frozenset(words), tag))
        self._by_first = by_first
        self._firsts = frozenset(by_first)

    def _matches(self, text: str) -> Iterable[Tag]:
        if not text:
            return
        present = set(text.split())
        for first in self._firsts.intersection(present):
            for padded, words, tag in self._by_first[first]:
                if words <= present and padded in text:
                    yield tag

    def find(self, text: str) -> set[Tag]:
        """Tags of every phrase found in `text` (a word form)."""
        return set(self._matches(text))

    def any(self, text: str) -> bool:
        """Whether any phrase occurs in `text` (a word form); stops at the first."""
        for _tag in self._matches(text):
            return True
        return False
