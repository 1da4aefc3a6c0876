"""Reviewed clinical knowledge: lab codes and units, cut-offs, value sets, medication classes.

The JSON files next to this module are the single place where codes, cut-offs and advice
live. `load_knowledge` parses them once (cached) and applies a site's cut-off overrides.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from cds.knowledge.doses import CombinationRule, combination_rule
from cds.knowledge.phrases import PhraseIndex

_FILES = ("labs", "cutoffs", "value_sets", "medications", "tests", "notes", "sources")

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
)


@dataclass(frozen=True)
class LabDefinition:
    key: str
    display: str
    unit: str  # canonical unit
    loincs: tuple[str, ...]
    factors: Mapping[str, float]  # lower-cased unit spelling -> factor to the canonical unit
    source: str
    test: str = ""  # key of the orderable test that repeats it (tests.json)
    # cut-offs (cutoffs.json) its results are judged against: same-instant results on two
    # sides of one conflict; empty: any difference conflicts
    decides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cutoff:
    key: str
    value: float
    unit: str
    text: str
    source: str
    certainty: str
    rule: str = "below"  # how the cut-off is applied: "below", "above", "at_least", ...


@dataclass(frozen=True)
class PlausibleRange:
    """Physiological limits of an analyte, canonical unit; None where no limit is set."""

    low: float | None
    high: float | None

    def holds(self, value: float) -> bool:
        # A concentration of zero is never physiological, whatever the limits say.
        return value > 0 and (self.low is None or value >= self.low) and (
            self.high is None or value <= self.high
        )

    def text(self, unit: str) -> str:
        low = f"{self.low:g}" if self.low is not None else "above 0"
        if self.high is None:
            return f"{low} {unit}" if self.low is None else f"at least {low} {unit}"
        if self.low is None:
            return f"above 0, up to {self.high:g} {unit}"
        return f"{low}-{self.high:g} {unit}"


@dataclass(frozen=True)
class ValueSetMember:
    key: str
    display: str
    snomed: frozenset[str]
    icd10_prefixes: tuple[str, ...]  # upper case, dots removed
    certainty: str
    names: tuple[str, ...] = ()  # whole-word phrases, padded: " bell s palsy " (text fallback)
    whole_name_only: bool = False  # names must be the condition's whole name, not a phrase in it
    # a broad name ("weakness") that counts only when no narrower member of its value set matched
    fallback_name: bool = False
    valid_months: int | None = None  # time-limited: not current once recorded longer ago than this
    flag: str = ""  # red flags: the short name a summary uses ("limb weakness")
    kind: str = "symptom"  # "symptom" (a symptom or sign) or "diagnosis"


MemberRef = tuple[str, ValueSetMember]  # (value set key, member)

# The longest code any terminology we look up issues is far shorter (LOINC 10 characters,
# SNOMED CT 18, ICD-10-CM 8, RxNorm 8, ATC 7). A longer "code" cannot match anything, so it
# is never looked up: every lookup then costs at most a constant, whatever the request holds.
MAX_CODE_LENGTH = 40


def code_fits(code: str) -> bool:
    """Whether `code` is short enough to be looked up (see MAX_CODE_LENGTH)."""
    return 0 < len(code) <= MAX_CODE_LENGTH


# Condition and medication names run to a few hundred characters at most. Longer chart text is
# not a name: the text fallback ignores it (silence, never a guess from a fragment).
MAX_NAME_LENGTH = 1000


def name_fits(text: str) -> bool:
    """Whether chart text is short enough to be matched against known names."""
    return len(text) <= MAX_NAME_LENGTH


@dataclass(frozen=True)
class ConditionCodeIndex:
    snomed: Mapping[str, list[MemberRef]]
    icd10_prefixes: Mapping[str, list[MemberRef]]
    order: Mapping[tuple[str, str], int]  # (value set, member) -> position in the knowledge files
    displays: Mapping[tuple[str, str], str]

    longest_icd10_prefix: int = 0

    def by_snomed(self, code: str) -> list[MemberRef]:
        """Members listing this SNOMED CT code."""
        return list(self.snomed.get(code, ())) if code_fits(code) else []

    def by_icd10(self, code: str) -> list[MemberRef]:
        """Members with an ICD-10-CM prefix of `code` (upper case, no dot).

        Only prefixes as long as the longest listed one are tried, and over-long codes not at
        all, so a lookup costs a bounded number of short dictionary reads.
        """
        if not code_fits(code):
            return []
        found: list[MemberRef] = []
        for end in range(min(len(code), self.longest_icd10_prefix) + 1):
            found.extend(self.icd10_prefixes.get(code[:end], ()))
        return found


@dataclass(frozen=True)
class ValueSet:
    key: str
    display: str
    role: str
    source: str
    members: tuple[ValueSetMember, ...]


@dataclass(frozen=True)
class MedicationClass:
    key: str
    display: str
    source: str
    rxcuis: frozenset[str]  # ingredient and mapped product codes
    atc_prefixes: tuple[str, ...]
    names: tuple[str, ...]  # lower-case ingredient names, aliases and brands for text matching
    combination: CombinationRule | None = None  # when a combination product counts (by name)


@dataclass(frozen=True)
class TestDefinition:
    key: str
    loinc: str
    display: str
    certainty: str


@dataclass(frozen=True)
class Knowledge:
    labs: Mapping[str, LabDefinition]
    loinc_to_analyte: Mapping[str, str]
    cutoffs: Mapping[str, float]  # effective values after site overrides
    cutoff_info: Mapping[str, Cutoff]
    value_sets: Mapping[str, ValueSet]
    medication_classes: Mapping[str, MedicationClass]
    tests: Mapping[str, TestDefinition]
    notes: Mapping[str, str]
    note_sources: Mapping[str, str]
    note_priority: Mapping[str, int]  # lower is shown first; a card shows at most two caveats
    sources: Mapping[str, Mapping[str, str]]
    systems: Mapping[str, frozenset[str]]  # "rxnorm", "atc", "snomed", "icd10" -> system URIs
    recent_months: int

    @cached_property
    def condition_names(self) -> PhraseIndex[tuple[str, str]]:
        """(value set, member) by the member's names, for the condition text fallback."""
        return PhraseIndex(
            (name, (vs_key, member.key))
            for vs_key, value_set in self.value_sets.items()
            for member in value_set.members
            if not member.whole_name_only
            for name in member.names
        )

    @cached_property
    def condition_whole_names(self) -> Mapping[str, tuple[tuple[str, str], ...]]:
        """(value set, member) by a reviewed whole condition name (word form): one lookup."""
        found: dict[str, list[tuple[str, str]]] = {}
        for vs_key, value_set in self.value_sets.items():
            for member in value_set.members:
                if member.whole_name_only:
                    for name in member.names:
                        found.setdefault(name, []).append((vs_key, member.key))
        return MappingProxyType({name: tuple(refs) for name, refs in found.items()})

    @cached_property
    def condition_fallbacks(self) -> frozenset[tuple[str, str]]:
        """(value set, member) whose names match only when no other member of the set did."""
        return frozenset(
            (vs_key, member.key)
            for vs_key, value_set in self.value_sets.items()
            for member in value_set.members
            if member.fallback_name
        )

    @cached_property
    def condition_validity(self) -> Mapping[tuple[str, str], int]:
        """Months a time-limited member stays current after it was recorded or began."""
        return MappingProxyType(
            {
                (vs_key, member.key): member.valid_months
                for vs_key, value_set in self.value_sets.items()
                for member in value_set.members
                if member.valid_months is not None
            }
        )

    @cached_property
    def condition_codes(self) -> ConditionCodeIndex:
        """Value set members by SNOMED CT code and by ICD-10-CM prefix, in knowledge order."""
        snomed: dict[str, list[MemberRef]] = {}
        icd10: dict[str, list[MemberRef]] = {}
        order: dict[tuple[str, str], int] = {}
        displays: dict[tuple[str, str], str] = {}
        for vs_key, value_set in self.value_sets.items():
            for member in value_set.members:
                ref = (vs_key, member)
                order[(vs_key, member.key)] = len(order)
                displays[(vs_key, member.key)] = member.display
                for code in member.snomed:
                    snomed.setdefault(code, []).append(ref)
                for prefix in member.icd10_prefixes:
                    icd10.setdefault(prefix, []).append(ref)
        return ConditionCodeIndex(snomed, icd10, order, displays, max(map(len, icd10), default=0))

    @cached_property
    def medication_codes(self) -> Mapping[str, tuple[str, ...]]:
        """Medication classes by RxNorm code (ingredient or product): one lookup per code."""
        by_code: dict[str, list[str]] = {}
        for key, med_class in self.medication_classes.items():
            for code in med_class.rxcuis:
                by_code.setdefault(code, []).append(key)
        return MappingProxyType({code: tuple(keys) for code, keys in by_code.items()})

    @cached_property
    def medication_names(self) -> PhraseIndex[str]:
        """Medication class by ingredient name, alias or brand, for the text fallback."""
        return PhraseIndex(
            (word_form(name), key)
            for key, med_class in self.medication_classes.items()
            for name in med_class.names
        )

    @cached_property
    def plausible_limits(self) -> Mapping[str, PlausibleRange]:
        """Per analyte, from the `<analyte>_plausible_low/high` cut-offs (site-overridable)."""
        return MappingProxyType(
            {
                key: PlausibleRange(
                    self.cutoffs.get(f"{key}_plausible_low"), self.cutoffs.get(f"{key}_plausible_high")
                )
                for key in self.labs
            }
        )

    @cached_property
    def orderable_loincs(self) -> frozenset[str]:
        """The LOINCs a card can suggest ordering: the only codes a recent-result check is asked about."""
        return frozenset(test.loinc for test in self.tests.values())

    @cached_property
    def source_min_ages(self) -> Mapping[str, float]:
        """Sources written for patients of at least an age (`minAgeYears`), by source key."""
        return MappingProxyType(
            {
                key: source["minAgeYears"]
                for key, source in self.sources.items()
                if isinstance(source.get("minAgeYears"), int | float)
            }
        )

    def member(self, value_set: str, key: str) -> ValueSetMember | None:
        return next((m for m in self.value_sets[value_set].members if m.key == key), None)

    def analyte_for_loinc(self, code: str) -> str | None:
        """The analyte a LOINC code measures, or None (over-long codes are not looked up)."""
        return self.loinc_to_analyte.get(code) if code_fits(code) else None

    def test_for(self, key: str) -> tuple[str, str]:
        test = self.tests[key]
        return test.loinc, test.display

    def cutoff_text(self, key: str, op: str) -> str:
        info = self.cutoff_info[key]
        return f"{op} {_fmt(self.cutoffs[key])} {info.unit}"


def _fmt(value: float) -> str:
    return f"{value:g}"


@lru_cache(maxsize=1)
def _raw_files() -> Mapping[str, Any]:
    package = resources.files(__name__)
    return MappingProxyType(
        {name: json.loads(package.joinpath(f"{name}.json").read_text("utf-8")) for name in _FILES}
    )


def _icd_prefix(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _build_labs(raw: Mapping[str, Any]) -> tuple[dict[str, LabDefinition], dict[str, str]]:
    labs: dict[str, LabDefinition] = {}
    by_loinc: dict[str, str] = {}
    for key, item in raw["analytes"].items():
        loincs = tuple(entry["code"] for entry in item["loinc"])
        labs[key] = LabDefinition(
            key=key,
            display=item["display"],
            unit=item["unit"],
            loincs=loincs,
            factors=MappingProxyType({unit.lower(): float(f) for unit, f in item["units"].items()}),
            source=item["source"],
            test=item.get("test", ""),
            decides=tuple(item.get("decides", ())),
        )
        for code in loincs:
            by_loinc[code] = key
    return labs, by_loinc


_NON_WORD = re.compile(r"[^a-z0-9]+")
# Every ASCII character that is not a lower-case letter or digit becomes a space: one C-speed
# pass (str.translate) instead of a regex substitution, for the usual all-ASCII text.
_ASCII_WORD_CHARS = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isdigit() or "a" <= chr(c) <= "z")}
)


def word_form(value: str) -> str:
    """Lower-case words separated and surrounded by single spaces, for whole-word matching."""
    lowered = value.lower()
    if lowered.isascii():
        words = lowered.translate(_ASCII_WORD_CHARS).split()
        return " " + " ".join(words) + " " if words else "  "
    return " " + _NON_WORD.sub(" ", lowered).strip() + " "


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
        )
    return result


def _apply_overrides(base: Mapping[str, Cutoff], overrides: Mapping[str, float] | None) -> dict[str, float]:
    values = {key: c.value for key, c in base.items()}
    for key, raw in (overrides or {}).items():
        if key not in values:
            raise ValueError(f"unknown cut-off {key!r} in cutoff overrides")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
            raise ValueError(f"cut-off {key!r}: expected a finite, non-negative number, got {raw!r}")
        values[key] = float(raw)
    for low, high in _ORDERED_CUTOFFS:
        if values[low] >= values[high]:
            raise ValueError(f"cut-off {low!r} ({values[low]:g}) must be below {high!r} ({values[high]:g})")
    return values


def load_knowledge(cutoff_overrides: Mapping[str, float] | None = None, recent_months: int = 12) -> Knowledge:
    """Parse the knowledge files (cached) and apply a site's cut-off overrides."""
    if isinstance(recent_months, bool) or not isinstance(recent_months, int) or recent_months < 1:
        raise ValueError(f"recent_months must be a positive whole number of months, got {recent_months!r}")
    raw = _raw_files()
    labs, by_loinc = _build_labs(raw["labs"])
    cutoff_info = {
        key: Cutoff(key, float(c["value"]), c["unit"], c["text"], c["source"], c["certainty"], c["rule"])
        for key, c in raw["cutoffs"]["cutoffs"].items()
    }
    for lab in labs.values():
        unknown = [key for key in lab.decides if key not in cutoff_info]
        if unknown:
            raise ValueError(f"labs.json: {lab.key} decides by unknown cut-off(s) {', '.join(unknown)}")
    systems = {**raw["medications"]["systems"], **raw["value_sets"]["systems"]}
    knowledge = Knowledge(
        labs=MappingProxyType(labs),
        loinc_to_analyte=MappingProxyType(by_loinc),
        cutoffs=MappingProxyType(_apply_overrides(cutoff_info, cutoff_overrides)),
        cutoff_info=MappingProxyType(cutoff_info),
        value_sets=MappingProxyType(_build_value_sets(raw["value_sets"])),
        medication_classes=MappingProxyType(_build_medications(raw["medications"])),
        tests=MappingProxyType(
            {
                key: TestDefinition(key, t["loinc"], t["display"], t["certainty"])
                for key, t in raw["tests"]["tests"].items()
            }
        ),
        notes=MappingProxyType({key: n["text"] for key, n in raw["notes"]["notes"].items()}),
        note_sources=MappingProxyType({key: n["source"] for key, n in raw["notes"]["notes"].items()}),
        note_priority=MappingProxyType(
            {key: int(n.get("priority", 5)) for key, n in raw["notes"]["notes"].items()}
        ),
        sources=MappingProxyType(raw["sources"]["sources"]),
        systems=MappingProxyType({name: frozenset(uris) for name, uris in systems.items()}),
        recent_months=recent_months,
    )
    # built up front, so no request pays for them
    _ = knowledge.condition_names, knowledge.condition_codes
    _ = knowledge.condition_whole_names, knowledge.condition_validity, knowledge.condition_fallbacks
    _ = knowledge.medication_names, knowledge.medication_codes
    _ = knowledge.plausible_limits, knowledge.source_min_ages, knowledge.orderable_loincs
    return knowledge


__all__ = [
    "MAX_CODE_LENGTH",
    "MAX_NAME_LENGTH",
    "Cutoff",
    "Knowledge",
    "LabDefinition",
    "MedicationClass",
    "PlausibleRange",
    "TestDefinition",
    "ValueSet",
    "ValueSetMember",
    "code_fits",
    "load_knowledge",
    "name_fits",
]
