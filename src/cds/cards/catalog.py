"""Card knowledge: per-topic display, advice and override reasons, and B12 treatment options.

Read once per process from the reviewed files knowledge/topics.json and
knowledge/treatments.json; a broken file fails at start-up, not during a call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cds.engine.model import Topic

_KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"


class CatalogError(ValueError):
    """A card knowledge file is unusable; the message names the file and entry."""


@dataclass(frozen=True)
class TopicInfo:
    code: str
    display: str
    rule: str
    advice: tuple[str, ...]
    override_reasons: tuple[tuple[str, str], ...]  # (code, display)
    sources: tuple[str, ...]
    certainty: str
    cutoffs: tuple[str, ...]  # cut-off keys shown on the topic's documentation page


@dataclass(frozen=True)
class CardCatalog:
    topic_system: str
    override_system: str
    topics: Mapping[str, TopicInfo]
    treatments: Mapping[str, Mapping[str, Any]]
    treatment_reason: Mapping[str, str]
    already_taking: Mapping[str, Any]

    def topic(self, code: str) -> TopicInfo:
        info = self.topics.get(code)
        if info is None:  # a topic the engine added before its card data: still a usable card
            return TopicInfo(code, code, "", (), (), (), "U", ())
        return info


def _read(name: str) -> dict[str, Any]:
    path = _KNOWLEDGE_DIR / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None


def _topics(data: dict[str, Any]) -> dict[str, TopicInfo]:
    reasons: dict[str, str] = data["overrideReasons"]
    result = {}
    for code, entry in data["topics"].items():
        unknown = [r for r in entry["overrideReasons"] if r not in reasons]
        if unknown:
            raise CatalogError(f"topics.json: topic {code!r} names unknown override reasons {unknown}")
        result[code] = TopicInfo(
            code=code,
            display=entry["display"],
            rule=entry.get("rule", ""),
            advice=tuple(entry.get("advice", ())),
            override_reasons=tuple((r, reasons[r]) for r in entry["overrideReasons"]),
            sources=tuple(entry.get("sources", ())),
            certainty=entry.get("certainty", "U"),
            cutoffs=tuple(entry.get("cutoffs", ())),
        )
    missing = sorted(t.value for t in Topic if t.value not in result)
    if missing:
        raise CatalogError(f"topics.json: no card data for topics {missing}")
    return result


_TREATMENT_FIELDS = ("label", "action", "medication", "route", "dose", "timing", "dosageText", "sources")


@cache
def load_catalog() -> CardCatalog:
    topics = _read("topics.json")
    treatments = _read("treatments.json")
    for key, option in treatments["options"].items():
        missing = [f for f in _TREATMENT_FIELDS if f not in option]
        if missing:
            raise CatalogError(f"treatments.json: option {key!r} lacks {missing}")
    return CardCatalog(
        topic_system=topics["systems"]["topic"],
        override_system=topics["systems"]["overrideReason"],
        topics=_topics(topics),
        treatments=treatments["options"],
        treatment_reason=treatments["reason"],
        already_taking=treatments["alreadyTaking"],
    )
