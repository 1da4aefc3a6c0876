"""The reviewed knowledge as typed records: analytes, cut-offs, value sets, medicines, topics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds.knowledge.doses import CombinationRule
from cds.knowledge.words import code_fits


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
    # the group of analytes one prefetch key asks for ("b12", "chemistry"; hooks/*.json)
    family: str = ""
    recent_window: str = ""  # chemistry: the cut-off (days) within which a result is recent


# What a prefetch key that carries every family declares (hooks/*.json, myelin.observationKeys).
ALL_FAMILIES = "all"


def significant_figures(stated: str) -> int:
    """Significant figures of a number as a guideline states it: "0.70" 2, "2.12" 3, "180" 3."""
    digits = stated.strip().lstrip("+-").replace(".", "").lstrip("0")
    return max(len(digits), 1)


@dataclass(frozen=True)
class Cutoff:
    key: str
    value: float
    unit: str
    text: str
    source: str
    certainty: str
    rule: str = "below"  # how the cut-off is applied: "below", "above", "at_least", ...
    stated: str = ""  # the figure as the guideline states it ("0.70"): its precision counts

    @property
    def figures(self) -> int:
        return significant_figures(self.stated or repr(self.value))

    def in_unit(self, value: float, factor: float, figures: int = 0) -> float:
        """This cut-off (its effective `value`) in a unit `factor` times the canonical one,
        rounded to the precision at which it is stated (or `figures`, if more): 0.70 mmol/L is
        1.7 mg/dL, 2.12 mmol/L is 8.50 mg/dL, 180 ng/L is 133 pmol/L."""
        if factor == 1.0 or value == 0:
            return value
        converted = value / factor
        decimals = max(self.figures, figures) - 1 - math.floor(math.log10(abs(converted)))
        return round(converted, decimals)


@dataclass(frozen=True)
class PlausibleRange:
    """Physiological limits of an analyte, canonical unit; None where no limit is set."""

    low: float | None
    high: float | None

    def holds(self, value: float) -> bool:
        # A concentration of zero is never physiological, whatever the limits say.
        return (
            value > 0
            and (self.low is None or value >= self.low)
            and (self.high is None or value <= self.high)
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
    # word forms (" omeprazole "): a medicine whose name begins with one of the class's names,
    # or holds an ingredient's own name, is named properly, however its code was missed
    ingredient_forms: tuple[str, ...] = ()
    name_forms: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestDefinition:
    key: str
    loinc: str
    display: str
    certainty: str
    # a test the engine suggests but does not interpret (vitamin D, PTH): the prefetch key of
    # this family asks for its results too, so a recent one stops a duplicate order
    family: str = ""


@dataclass(frozen=True)
class TopicInfo:
    """What a card of this topic shows besides the finding: display, routine advice, override
    reasons, and the documentation page's rule and sources."""

    code: str
    display: str
    rule: str
    advice: tuple[str, ...]
    override_reasons: tuple[tuple[str, str], ...]  # (code, display)
    sources: tuple[str, ...]
    certainty: str
    cutoffs: tuple[str, ...]  # cut-off keys shown on the topic's documentation page


TreatmentOption = Mapping[str, Any]  # treatments.json `options` entry, checked at load
