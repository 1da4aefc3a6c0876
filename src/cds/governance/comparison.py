"""Live against candidate: what a change of the rules would do to the clinician's answer.

Pure. `compare_answers` takes one call's cards under the live rules and under a candidate and
says, card by card (cards pair up by uuid, which comes from the hookInstance and the card's
topic, so the same card has the same uuid under both), what the clinician would see happen:

- appear: shown under the candidate, not shown live (absent, or recorded silently);
- disappear: shown live, not under the candidate;
- indicator: shown under both with another indicator;
- content: shown under both, same indicator, other wording or suggestions;
- same: shown under both, identical; unseen: shown under neither (silent, or absent).

The call's answer changes when its list of shown cards differs in any byte but the knowledge
version each card carries. `compare_pilot` adds the recorded calls up per candidate and topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

APPEAR, DISAPPEAR, INDICATOR, CONTENT, SAME, UNSEEN = (
    "appear",
    "disappear",
    "indicator",
    "content",
    "same",
    "unseen",
)
_EXTENSION = "extension"  # carries the knowledge version: differs by design, not a change


@dataclass(frozen=True)
class CardChange:
    card_uuid: str
    topic: str
    live_mode: str | None  # "active" (shown), "silent", or None (not built)
    live_indicator: str | None
    candidate_mode: str | None
    candidate_indicator: str | None
    change: str


def _content(card: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in card.items() if k != _EXTENSION}, option=orjson.OPT_SORT_KEYS)


def _topic(card: Mapping[str, Any]) -> str:
    return str(((card.get("source") or {}).get("topic") or {}).get("code") or "")


def _by_uuid(
    shown: Iterable[Mapping[str, Any]], silent: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for mode, cards in (("silent", silent), ("active", shown)):  # shown wins a (never seen) tie
        for card in cards:
            if card.get("uuid"):
                found[str(card["uuid"])] = (mode, card)
    return found


def _change(live: tuple[str, Any] | None, candidate: tuple[str, Any] | None, same: bool) -> str:
    live_shown = live is not None and live[0] == "active"
    candidate_shown = candidate is not None and candidate[0] == "active"
    if live_shown and candidate_shown:
        assert live is not None and candidate is not None
        if live[1].get("indicator") != candidate[1].get("indicator"):
            return INDICATOR
        return SAME if same else CONTENT
    if live_shown:
        return DISAPPEAR
    return APPEAR if candidate_shown else UNSEEN


def compare_answers(
    live_shown: Sequence[Mapping[str, Any]],
    live_silent: Sequence[Mapping[str, Any]],
    candidate_shown: Sequence[Mapping[str, Any]],
    candidate_silent: Sequence[Mapping[str, Any]],
) -> tuple[bool, list[CardChange]]:
    """(whether the clinician's answer would differ, what happens to each card of either side)."""
    before, after = [_content(c) for c in live_shown], [_content(c) for c in candidate_shown]
    changed = before != after
    shown_before = {str(c.get("uuid")): text for c, text in zip(live_shown, before, strict=True)}
    shown_after = {str(c.get("uuid")): text for c, text in zip(candidate_shown, after, strict=True)}
    live, candidate = _by_uuid(live_shown, live_silent), _by_uuid(candidate_shown, candidate_silent)
    changes = []
    for uuid in dict.fromkeys([*live, *candidate]):
        a, b = live.get(uuid), candidate.get(uuid)
        card = (b or a)[1]  # type: ignore[index]
        changes.append(
            CardChange(
                card_uuid=uuid,
                topic=_topic(card),
                live_mode=a[0] if a else None,
                live_indicator=str(a[1].get("indicator")) if a else None,
                candidate_mode=b[0] if b else None,
                candidate_indicator=str(b[1].get("indicator")) if b else None,
                change=_change(a, b, shown_before.get(uuid) == shown_after.get(uuid)),
            )
        )
    return changed, changes


# --- the pilot's figures ---------------------------------------------------------------------


@dataclass
class ShadowTopic:
    service: str
    topic: str
    display: str
    live_calls: int = 0  # calls on which the topic fired live (shown or silent)
    candidate_calls: int = 0  # calls on which it would fire under the candidate
    appear: int = 0
    disappear: int = 0
    indicator_changed: int = 0
    content_changed: int = 0
    changed_calls: int = 0  # calls on which one of its cards would appear, disappear or change
    fired_calls: int = 0  # calls on which it fired live, under the candidate, or both

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "topic": self.topic,
            "display": self.display,
            "liveCalls": self.live_calls,
            "candidateCalls": self.candidate_calls,
            "appear": self.appear,
            "disappear": self.disappear,
            "indicatorChanged": self.indicator_changed,
            "contentChanged": self.content_changed,
            "changedCalls": self.changed_calls,
            "firedCalls": self.fired_calls,
        }


@dataclass
class ShadowComparison:
    candidate: str
    label: str
    live_versions: list[str]
    calls: int  # calls the candidate was assessed on in the period
    changed_calls: int  # of which the clinician's answer would differ
    first_shadow: datetime | None = None
    topics: list[ShadowTopic] = field(default_factory=list)

    @property
    def changed_share(self) -> float | None:
        return self.changed_calls / self.calls if self.calls else None

    def as_json(self) -> dict[str, Any]:
        share = self.changed_share
        return {
            "candidate": self.candidate,
            "label": self.label,
            "liveVersions": self.live_versions,
            "firstShadow": self.first_shadow.isoformat() if self.first_shadow else None,
            "calls": self.calls,
            "changedCalls": self.changed_calls,
            "changedCallShare": None if share is None else round(share, 4),
            "topics": [t.as_json() for t in self.topics],
        }


def compare_pilot(
    calls: Iterable[Mapping[str, Any]],
    cards: Iterable[Mapping[str, Any]],
    *,
    labels: Mapping[str, str] | None = None,
    first_shadow: Mapping[str, datetime | None] | None = None,
    displays: Mapping[str, str] | None = None,
) -> list[ShadowComparison]:
    """Per candidate version, the calls assessed and per topic what would change. `calls` and
    `cards` are the stored shadow rows (store.shadow); cards of calls not given are left out."""
    labels, first_shadow, displays = labels or {}, first_shadow or {}, displays or {}
    found: dict[str, ShadowComparison] = {}
    assessed: set[tuple[str, str, str]] = set()
    for row in calls:
        version = row["candidate_version"]
        comparison = found.get(version)
        if comparison is None:
            comparison = found[version] = ShadowComparison(
                version, labels.get(version, ""), [], 0, 0, first_shadow.get(version)
            )
        comparison.calls += 1
        comparison.changed_calls += int(bool(row["changed"]))
        if row["live_version"] not in comparison.live_versions:
            comparison.live_versions.append(row["live_version"])
        assessed.add((version, row["service"], row["hook_instance"]))

    topics: dict[tuple[str, str, str], ShadowTopic] = {}
    fired: dict[tuple[str, str, str, str], set[str]] = {}  # (version, service, topic, side) -> calls
    for row in cards:
        version, service, hook = row["candidate_version"], row["service"], row["hook_instance"]
        if (version, service, hook) not in assessed:
            continue
        key = (version, service, row["topic"])
        topic = topics.get(key)
        if topic is None:
            topic = topics[key] = ShadowTopic(service, row["topic"], displays.get(row["topic"], row["topic"]))
        if row["live_mode"]:
            fired.setdefault((*key, "live"), set()).add(hook)
        if row["candidate_mode"]:
            fired.setdefault((*key, "candidate"), set()).add(hook)
        change = row["change"]
        if change in (APPEAR, DISAPPEAR, INDICATOR, CONTENT):
            fired.setdefault((*key, "changed"), set()).add(hook)
        topic.appear += change == APPEAR
        topic.disappear += change == DISAPPEAR
        topic.indicator_changed += change == INDICATOR
        topic.content_changed += change == CONTENT
    for (version, service, code), topic in topics.items():
        topic.live_calls = len(fired.get((version, service, code, "live"), ()))
        topic.candidate_calls = len(fired.get((version, service, code, "candidate"), ()))
        topic.changed_calls = len(fired.get((version, service, code, "changed"), ()))
        topic.fired_calls = len(
            fired.get((version, service, code, "live"), set())
            | fired.get((version, service, code, "candidate"), set())
        )
        found[version].topics.append(topic)
    for comparison in found.values():
        comparison.live_versions.sort()
        comparison.topics.sort(key=lambda t: (t.service, t.topic))
    return sorted(
        found.values(), key=lambda c: (c.first_shadow is None, c.first_shadow or datetime.min, c.candidate)
    )
