"""Whole-word phrase lookup for the text fallbacks (condition and medication names)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

Tag = TypeVar("Tag")


class PhraseIndex(Generic[Tag]):
    """Which known phrases occur as whole words in a text.

    Texts and phrases are in word form (lower-case words separated by single spaces, see
    `word_form`), so "phrase in text" is a match of consecutive words. Indexing phrases by
    their first word makes a lookup one pass over the text's words instead of one substring
    search per known phrase.
    """

    def __init__(self, phrases: Iterable[tuple[str, Tag]]) -> None:
        by_first: dict[str, list[tuple[list[str], Tag]]] = {}
        for phrase, tag in phrases:
            words = phrase.split()
            if words:
                by_first.setdefault(words[0], []).append((words, tag))
        self._by_first = by_first

    def find(self, text: str) -> set[Tag]:
        """Tags of every phrase found in `text` (a word form)."""
        found: set[Tag] = set()
        if not text:
            return found
        words = text.split()
        by_first = self._by_first
        for index, word in enumerate(words):
            candidates = by_first.get(word)
            if candidates:
                for phrase, tag in candidates:
                    if words[index : index + len(phrase)] == phrase:
                        found.add(tag)
        return found
