"""The effective rules as a committee reads them, and what changes between two of them.

`effective_rules(settings)` gathers, for one configuration: each cut-off with its value (the
site's where it overrides one), unit, source and certainty mark; each topic with its mode;
each value set and medication class with its codes and source. `diff_rules` lists what would
change from one to another: cut-offs, modes, other card settings, codes added or removed. The
JSON form is also a snapshot: saved by one release, it can be compared with the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cds.change.version import card_settings, knowledge_version
from cds.config import Settings
from cds.knowledge import load_knowledge
from cds.knowledge.version import files_digest, knowledge_files

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True)
class CutoffRule:
    key: str
    value: float  # effective: the site's override, else the reviewed value
    reviewed: float
    unit: str
    source: str
    certainty: str  # V verified in a source, S secondary sources only, U unverified
    text: str = ""

    @property
    def overridden(self) -> bool:
        return self.value != self.reviewed


@dataclass(frozen=True)
class TopicRule:
    code: str
    display: str
    mode: str  # active, silent or off
    certainty: str


@dataclass(frozen=True)
class CodeSet:
    key: str
    kind: str  # "value set" or "medication class"
    display: str
    source: str
    members: int
    codes: frozenset[str]  # "SNOMED 32402008", "ICD-10 G513", "RxNorm 7646", "ATC A02BC"


@dataclass(frozen=True)
class Rules:
    version: str
    label: str
    files: str  # digest of the knowledge files
    settings: Mapping[str, Any]  # card settings, normal form
    cutoffs: Mapping[str, CutoffRule]
    topics: Mapping[str, TopicRule]
    code_sets: Mapping[str, CodeSet] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "version": self.version,
            "label": self.label,
            "knowledgeFiles": self.files,
            "settings": dict(self.settings),
            "cutoffs": [
                {
                    "key": c.key,
                    "value": c.value,
                    "reviewedValue": c.reviewed,
                    "overridden": c.overridden,
                    "unit": c.unit,
                    "source": c.source,
                    "certainty": c.certainty,
                    "text": c.text,
                }
                for c in self.cutoffs.values()
            ],
            "topics": [
                {"code": t.code, "display": t.display, "mode": t.mode, "certainty": t.certainty}
                for t in self.topics.values()
            ],
            "codeSets": [
                {
                    "key": s.key,
                    "kind": s.kind,
                    "display": s.display,
                    "source": s.source,
                    "members": s.members,
                    "size": len(s.codes),
                    "codes": sorted(s.codes),
                }
                for s in self.code_sets.values()
            ],
        }


def _value_sets(raw: Mapping[str, Any]) -> dict[str, CodeSet]:
    result = {}
    for key, item in raw["value_sets"].items():
        codes = {f"SNOMED {c}" for m in item["members"] for c in m["snomed"]}
        codes |= {f"ICD-10 {c}" for m in item["members"] for c in m["icd10"]}
        result[key] = CodeSet(
            key, "value set", item["display"], item["source"], len(item["members"]), frozenset(codes)
        )
    return result


def _medication_classes(settings: Settings) -> dict[str, CodeSet]:
    knowledge = load_knowledge(settings.cutoff_overrides, settings.recent_months)
    raw = knowledge_files()["medications"]["classes"]
    return {
        key: CodeSet(
            key,
            "medication class",
            c.display,
            c.source,
            len(raw[key]["ingredients"]),  # members: its ingredients; codes: every code that counts
            frozenset({*(f"RxNorm {r}" for r in c.rxcuis), *(f"ATC {a}" for a in c.atc_prefixes)}),
        )
        for key, c in knowledge.medication_classes.items()
    }


def check_card_settings(settings: Settings) -> None:
    """A ValueError naming the problem when these card settings cannot build cards."""
    known = knowledge_files()["topics"]["topics"]
    unknown = sorted(code for code in settings.topic_modes if code not in known)
    if unknown:
        raise ValueError(f"setting 'topic_modes': unknown topic codes {', '.join(unknown)}")
    try:
        load_knowledge(settings.cutoff_overrides, settings.recent_months)
    except ValueError as exc:
        raise ValueError(f"setting 'cutoff_overrides': {exc}") from None


def effective_rules(settings: Settings) -> Rules:
    """The rules this configuration runs (raises ValueError when it cannot build cards)."""
    check_card_settings(settings)
    files = knowledge_files()
    knowledge = load_knowledge(settings.cutoff_overrides, settings.recent_months)
    cutoffs = {
        key: CutoffRule(
            key, knowledge.cutoffs[key], info.value, info.unit, info.source, info.certainty, info.text
        )
        for key, info in knowledge.cutoff_info.items()
    }
    topics = {
        code: TopicRule(
            code, entry["display"], settings.topic_modes.get(code, "active"), entry.get("certainty", "U")
        )
        for code, entry in files["topics"]["topics"].items()
    }
    version = knowledge_version(settings)
    return Rules(
        version=version.version,
        label=version.label,
        files=files_digest(),
        settings=card_settings(settings),
        cutoffs=cutoffs,
        topics=topics,
        code_sets={**_value_sets(files["value_sets"]), **_medication_classes(settings)},
    )


def rules_from_json(data: Any) -> Rules:
    """A snapshot saved with `cds knowledge show --format json` (ValueError if it is not one)."""
    if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(
            f"not a knowledge snapshot (format {SNAPSHOT_FORMAT} of `cds knowledge show --format json`)"
        )
    try:
        return Rules(
            version=str(data["version"]),
            label=str(data.get("label") or ""),
            files=str(data["knowledgeFiles"]),
            settings=dict(data["settings"]),
            cutoffs={
                c["key"]: CutoffRule(
                    c["key"],
                    float(c["value"]),
                    float(c["reviewedValue"]),
                    c["unit"],
                    c["source"],
                    c["certainty"],
                    c.get("text", ""),
                )
                for c in data["cutoffs"]
            },
            topics={
                t["code"]: TopicRule(t["code"], t["display"], t["mode"], t["certainty"])
                for t in data["topics"]
            },
            code_sets={
                s["key"]: CodeSet(
                    s["key"], s["kind"], s["display"], s["source"], int(s["members"]), frozenset(s["codes"])
                )
                for s in data["codeSets"]
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"knowledge snapshot is incomplete or malformed ({type(exc).__name__}: {exc})"
        ) from None


@dataclass(frozen=True)
class Change:
    kind: str  # "cutoff", "mode", "setting", "codes", "knowledge", "label"
    key: str
    before: Any = None
    after: Any = None
    unit: str = ""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "before": self.before, "after": self.after}
        if self.unit:
            out["unit"] = self.unit
        if self.kind == "codes":
            out["added"], out["removed"] = list(self.added), list(self.removed)
        return out


_SHOWN_ELSEWHERE = frozenset({"cutoff_overrides", "topic_modes"})  # as cut-offs and modes


def diff_rules(before: Rules, after: Rules) -> list[Change]:
    """What changes from `before` to `after`; empty when they build the same cards."""
    changes: list[Change] = []
    for key in sorted(before.cutoffs.keys() | after.cutoffs.keys()):
        a, b = before.cutoffs.get(key), after.cutoffs.get(key)
        if a is None or b is None or a.value != b.value:
            unit = (b or a).unit if (b or a) else ""
            changes.append(Change("cutoff", key, a and a.value, b and b.value, unit))
    for code in sorted(before.topics.keys() | after.topics.keys()):
        ma = before.topics[code].mode if code in before.topics else None
        mb = after.topics[code].mode if code in after.topics else None
        if ma != mb:
            changes.append(Change("mode", code, ma, mb))
    for name in sorted((before.settings.keys() | after.settings.keys()) - _SHOWN_ELSEWHERE):
        if before.settings.get(name) != after.settings.get(name):
            changes.append(Change("setting", name, before.settings.get(name), after.settings.get(name)))
    for key in sorted(before.code_sets.keys() | after.code_sets.keys()):
        ca = before.code_sets[key].codes if key in before.code_sets else frozenset()
        cb = after.code_sets[key].codes if key in after.code_sets else frozenset()
        if ca != cb:
            changes.append(
                Change(
                    "codes",
                    key,
                    len(ca),
                    len(cb),
                    added=tuple(sorted(cb - ca)),
                    removed=tuple(sorted(ca - cb)),
                )
            )
    if before.files != after.files:
        # Codes, and also text, advice or any other reviewed content: a new version of the rules.
        changes.append(Change("knowledge", "knowledge files", before.files[:12], after.files[:12]))
    if before.label != after.label:
        changes.append(Change("label", "knowledge_label", before.label, after.label))
    return changes
