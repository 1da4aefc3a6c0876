"""The CDS Hooks 2.0 response as typed records: cards, suggestions, links, and the answer.

Field names are the specification's (camelCase), so a card encodes straight to JSON; an
optional field left at its default is omitted, as the specification asks (a field carries a
value or is absent).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct


class Coding(Struct, frozen=True, omit_defaults=True):
    code: str
    system: str | None = None
    display: str | None = None


class Source(Struct, frozen=True, omit_defaults=True):
    label: str
    url: str | None = None
    topic: Coding | None = None


class Link(Struct, frozen=True, omit_defaults=True):
    label: str
    url: str
    type: str  # "absolute" or "smart": always sent, never a default left out
    appContext: str | None = None


class Action(Struct, frozen=True, omit_defaults=True):
    type: str  # "create", "update" or "delete"
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(Struct, frozen=True, omit_defaults=True):
    label: str
    uuid: str
    actions: tuple[Action, ...] = ()
    isRecommended: bool | None = None


class Card(Struct, frozen=True, omit_defaults=True):
    uuid: str
    summary: str
    indicator: str  # "info", "warning" or "critical"
    source: Source
    detail: str | None = None
    overrideReasons: tuple[Coding, ...] = ()
    links: tuple[Link, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    selectionBehavior: str | None = None
    extension: dict[str, Any] | None = None

    @property
    def topic(self) -> str:
        return self.source.topic.code if self.source.topic is not None else ""


class Answer(Struct, frozen=True):
    """A call's cards: those returned, and those of topics the site runs silently (built and
    recorded for the audit, never returned)."""

    cards: tuple[Card, ...] = ()
    silent: tuple[Card, ...] = ()

    def body(self) -> bytes:
        """The response body as the specification words it."""
        return _encoder.encode({"cards": self.cards})


_encoder = msgspec.json.Encoder()


def to_json(card: Card) -> dict[str, Any]:
    """A card as parsed JSON, exactly as it is sent (for tools and tests that compare cards)."""
    return msgspec.json.decode(_encoder.encode(card))
