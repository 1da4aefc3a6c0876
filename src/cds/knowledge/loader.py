"""The one loader of the reviewed knowledge files (and the only place that reads them)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from cds.knowledge.catalog import Knowledge
from cds.knowledge.doses import combination_rule
from cds.knowledge.model import (
    ALL_FAMILIES,
    Cutoff,
    LabDefinition,
    MedicationClass,
    TestDefinition,
    TopicInfo,
    ValueSet,
    ValueSetMember,
)
from cds.knowledge.words import word_form

FILES = ("labs", "cutoffs", "value_sets", "medications", "tests", "notes", "sources", "topics", "treatments")

# Pairs that must stay ordered after overrides: (lower, higher).
_ORDERED_CUTOFFS = (
    ("b12_total_deficient", "b12_total_indeterminate_upper"),
    ("holotc_deficient", "holotc_indeterminate_upper"),
    ("magnesium_severe_low", "magnesium_low"),
    ("calcium_corrected_severe_low", "calcium_corrected_low"),
    ("calcium_ionized_severe_low", "calcium_ionized_low"),
    ("potassium_severe_low", "potassium_low"),
    ("sodium_severe_low", "sodium_low"),
    ("magnesium_plausible_low", "magnesium_severe_low"),
    ("calcium_corrected_plausible_low", "calcium_corrected_severe_low"),
    ("calcium_ionized_plausible_low", "calcium_ionized_severe_low"),
    ("potassium_plausible_low", "potassium_severe_low"),
    ("sodium_plausible_low", "sodium_severe_low"),
    ("b12_elevated", "b12_total_plausible_high"),
    ("potassium_low", "potassium_high"),
    ("potassium_high", "potassium_severe_high"),
    ("potassium_severe_high", "potassium_plausible_high"),
    ("sodium_low", "sodium_high"),
    ("sodium_high", "sodium_severe_high"),
    ("sodium_severe_high", "sodium_plausible_high"),
    ("holotc_indeterminate_upper", "holotc_plausible_high"),
    ("potassium_severe_low", "potassium_mild_low"),
    ("potassium_mild_low", "potassium_low"),
    ("potassium_high", "potassium_moderate_high"),
    ("potassium_moderate_high", "potassium_severe_high"),
    ("sodium_severe_low", "sodium_mild_low"),
    ("sodium_mild_low", "sodium_low"),
    ("sodium_high", "sodium_urgent_high"),
    ("sodium_urgent_high", "sodium_severe_high"),
    ("calcium_ionized_severe_low", "calcium_ionized_mild_low"),
    ("calcium_ionized_mild_low", "calcium_ionized_low"),
)


class KnowledgeError(ValueError):
    """A knowledge file or a site override is unusable; the message names the file or key."""


@lru_cache(maxsize=1)
def raw_files() -> Mapping[str, Any]:
    """Every knowledge file as parsed JSON, by name (read once per process)."""
    package = resources.files(__package__ or "cds.knowledge")
    found = {}
    for name in FILES:
        try:
            found[name] = json.loads(package.joinpath(f"{name}.json").read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KnowledgeError(f"knowledge file {name}.json: {exc}") from None
    return MappingProxyType(found)


def _icd_prefix(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _build_labs(raw: Mapping[str, Any]) -> tuple[dict[str, LabDefinition], dict[str, str]]:
    labs: dict[str, LabDefinition] = {}
    by_loinc: dict[str, str] = {}
    for key, item in raw["analytes"].items():
        loincs = tuple(entry["code"] for entry in item["loinc"])
        family = item.get("family")
        if not isinstance(family, str) or not family or family == ALL_FAMILIES:
            raise KnowledgeError(f"labs.json: {key} needs a 'family' (a name other than {ALL_FAMILIES!r})")
        labs[key] = LabDefinition(
            key=key,
            display=item["display"],
            unit=item["unit"],
            loincs=loincs,
            factors=MappingProxyType({unit.lower(): float(f) for unit, f in item["units"].items()}),
            source=item["source"],
            test=item.get("test", ""),
            decides=tuple(item.get("decides", ())),
            family=family,
            recent_window=item.get("recent_window", ""),
        )
        for code in loincs:
            by_loinc[code] = key
    return labs, by_loinc


def _build_cutoffs(raw: Mapping[str, Any]) -> dict[str, Cutoff]:
    found = {}
    for key, c in raw["cutoffs"].items():
        stated = str(c.get("stated", ""))
        if stated and float(stated) != float(c["value"]):
            raise KnowledgeError(f"cutoffs.json: {key} states {stated!r} but its value is {c['value']!r}")
        found[key] = Cutoff(
            key, float(c["value"]), c["unit"], c["text"], c["source"], c["certainty"], c["rule"], stated
        )
    return found


def _build_value_sets(raw: Mapping[str, Any]) -> dict[str, ValueSet]:
    result = {}
    for key, item in raw["value_sets"].items():
        members = tuple(
            ValueSetMember(
                key=m["key"],
                display=m["display"],
                snomed=frozenset(m["snomed"]),
                icd10_prefixes=tuple(_icd_prefix(c) for c in m["icd10"]),
                certainty=m["certainty"],
                names=tuple(word_form(n) for n in m.get("names", ())),
                whole_name_only=m.get("name_match") == "whole",
                fallback_name=m.get("name_match") == "fallback",
                valid_months=m.get("valid_months"),
                flag=m.get("flag", ""),
                kind=m.get("kind", "symptom"),
            )
            for m in item["members"]
        )
        result[key] = ValueSet(key, item["display"], item["role"], item["source"], members)
    return result


def _build_medications(raw: Mapping[str, Any]) -> dict[str, MedicationClass]:
    result = {}
    mapped = raw.get("product_map", {}).get("classes", {})
    for key, item in raw["classes"].items():
        rxcuis = {i["rxcui"] for i in item["ingredients"] if i.get("rxcui")}
        rxcuis |= {p["rxcui"] for p in item["products"]}
        rxcuis |= set(mapped.get(key, {}))  # generated product codes (scripts/build_medication_map.py)
        names: list[str] = []
        for ingredient in item["ingredients"]:
            names.append(ingredient["name"])
            names.extend(ingredient.get("aliases", ()))
            names.extend(ingredient.get("brands", ()))
        result[key] = MedicationClass(
            key=key,
            display=item["display"],
            source=item["source"],
            rxcuis=frozenset(rxcuis),
            atc_prefixes=tuple(p.upper() for p in item["atc_prefixes"]),
            names=tuple(n.lower() for n in names),
            combination=combination_rule(item),
            ingredient_forms=tuple(word_form(i["name"]) for i in item["ingredients"]),
            name_forms=tuple(word_form(n) for n in names),
        )
    return result


def _build_topics(raw: Mapping[str, Any]) -> dict[str, TopicInfo]:
    reasons: dict[str, str] = raw["overrideReasons"]
    result = {}
    for code, entry in raw["topics"].items():
        unknown = [r for r in entry["overrideReasons"] if r not in reasons]
        if unknown:
            raise KnowledgeError(f"topics.json: topic {code!r} names unknown override reasons {unknown}")
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
    return result


_TREATMENT_FIELDS = ("label", "action", "medication", "route", "dose", "timing", "dosageText", "sources")


def _check_treatments(raw: Mapping[str, Any]) -> None:
    for key, option in raw["options"].items():
        missing = [f for f in _TREATMENT_FIELDS if f not in option]
        if missing:
            raise KnowledgeError(f"treatments.json: option {key!r} lacks {missing}")


def apply_overrides(base: Mapping[str, Cutoff], overrides: Mapping[str, float] | None) -> dict[str, float]:
    values = {key: c.value for key, c in base.items()}
    for key, raw in (overrides or {}).items():
        if key not in values:
            raise KnowledgeError(f"unknown cut-off {key!r} in cutoff overrides")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
            raise KnowledgeError(f"cut-off {key!r}: expected a finite, non-negative number, got {raw!r}")
        values[key] = float(raw)
    for low, high in _ORDERED_CUTOFFS:
        if values[low] >= values[high]:
            raise KnowledgeError(
                f"cut-off {low!r} ({values[low]:g}) must be below {high!r} ({values[high]:g})"
            )
    return values


def load_knowledge(cutoff_overrides: Mapping[str, float] | None = None, recent_months: int = 12) -> Knowledge:
    """Parse the knowledge files (read once per process) and apply a site's cut-off overrides."""
    if isinstance(recent_months, bool) or not isinstance(recent_months, int) or recent_months < 1:
        raise KnowledgeError(
            f"recent_months must be a positive whole number of months, got {recent_months!r}"
        )
    raw = raw_files()
    labs, by_loinc = _build_labs(raw["labs"])
    cutoff_info = _build_cutoffs(raw["cutoffs"])
    for lab in labs.values():
        unknown = [key for key in lab.decides if key not in cutoff_info]
        if unknown:
            raise KnowledgeError(f"labs.json: {lab.key} decides by unknown cut-off(s) {', '.join(unknown)}")
    _check_treatments(raw["treatments"])
    notes = raw["notes"]["notes"]
    systems = {**raw["medications"]["systems"], **raw["value_sets"]["systems"]}
    return Knowledge(
        labs=MappingProxyType(labs),
        loinc_to_analyte=MappingProxyType(by_loinc),
        cutoffs=MappingProxyType(apply_overrides(cutoff_info, cutoff_overrides)),
        cutoff_info=MappingProxyType(cutoff_info),
        value_sets=MappingProxyType(_build_value_sets(raw["value_sets"])),
        medication_classes=MappingProxyType(_build_medications(raw["medications"])),
        tests=MappingProxyType(
            {
                key: TestDefinition(key, t["loinc"], t["display"], t["certainty"], t.get("family", ""))
                for key, t in raw["tests"]["tests"].items()
            }
        ),
        notes=MappingProxyType({key: n["text"] for key, n in notes.items()}),
        note_sources=MappingProxyType({key: n["source"] for key, n in notes.items()}),
        note_priority=MappingProxyType({key: int(n.get("priority", 5)) for key, n in notes.items()}),
        note_asks=MappingProxyType({key: tuple(n.get("asks", ())) for key, n in notes.items()}),
        sources=MappingProxyType(raw["sources"]["sources"]),
        systems=MappingProxyType({name: frozenset(uris) for name, uris in systems.items()}),
        recent_months=recent_months,
        topics=MappingProxyType(_build_topics(raw["topics"])),
        topic_system=raw["topics"]["systems"]["topic"],
        override_system=raw["topics"]["systems"]["overrideReason"],
        treatments=MappingProxyType(raw["treatments"]["options"]),
        treatment_reason=MappingProxyType(raw["treatments"]["reason"]),
        already_taking=MappingProxyType(raw["treatments"]["alreadyTaking"]),
    ).warm()
