"""Knowledge: the reviewed files as one typed record (built by `loader`), with the indexes every
call looks things up in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

from cds.knowledge.model import (
    ALL_FAMILIES,
    ConditionCodeIndex,
    Cutoff,
    LabDefinition,
    MedicationClass,
    MemberRef,
    PlausibleRange,
    TestDefinition,
    TopicInfo,
    TreatmentOption,
    ValueSet,
    ValueSetMember,
    significant_figures,
)
from cds.knowledge.phrases import PhraseIndex
from cds.knowledge.words import code_fits, word_form


@dataclass(frozen=True)
class Knowledge:
    labs: Mapping[str, LabDefinition]
    loinc_to_analyte: Mapping[str, str]
    cutoffs: Mapping[str, float]  # effective values after site overrides
    cutoff_info: Mapping[str, Cutoff]  # as stated, with the effective value and its precision
    value_sets: Mapping[str, ValueSet]
    medication_classes: Mapping[str, MedicationClass]
    tests: Mapping[str, TestDefinition]
    notes: Mapping[str, str]
    note_sources: Mapping[str, str]
    note_priority: Mapping[str, int]  # lower is shown first; a card shows at most two caveats
    note_asks: Mapping[str, tuple[str, ...]]  # the tests a note asks for (a card offering one drops it)
    sources: Mapping[str, Mapping[str, Any]]
    systems: Mapping[str, frozenset[str]]  # "rxnorm", "atc", "snomed", "icd10" -> system URIs
    recent_months: int
    topics: Mapping[str, TopicInfo]
    topic_system: str
    override_system: str
    treatments: Mapping[str, TreatmentOption]
    treatment_reason: Mapping[str, str]
    already_taking: Mapping[str, Any]  # what counts as already taking B12 (treatments.json)

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
    def test_loincs(self) -> Mapping[str, frozenset[str]]:
        """Per orderable test, every LOINC a result answering it can carry: an interpreted
        analyte's result answers its test under all of the analyte's codes (a molar B12
        answers a mass B12 order)."""
        found: dict[str, set[str]] = {key: {test.loinc} for key, test in self.tests.items()}
        for lab in self.labs.values():
            if lab.test in found:
                found[lab.test].update(lab.loincs)
        return MappingProxyType({key: frozenset(codes) for key, codes in found.items()})

    @cached_property
    def families(self) -> Mapping[str, tuple[str, ...]]:
        """The analytes of each family (labs.json `family`): what one prefetch key asks for."""
        found: dict[str, list[str]] = {}
        for lab in self.labs.values():
            found.setdefault(lab.family, []).append(lab.key)
        return MappingProxyType({family: tuple(keys) for family, keys in found.items()})

    def prefetch_codes(self, family: str) -> frozenset[str]:
        """The LOINCs the prefetch key of `family` asks for: its analytes' codes, and those of the
        tests of that family the engine suggests without interpreting them."""
        codes = {code for key in self.families.get(family, ()) for code in self.labs[key].loincs}
        codes |= {test.loinc for test in self.tests.values() if test.family == family}
        return frozenset(codes)

    def analytes_of(self, family: str) -> frozenset[str]:
        """The analytes a prefetch key declared to carry `family` holds results of: one
        family's, or every analyte's for ALL_FAMILIES; none for a family the knowledge lacks."""
        if family == ALL_FAMILIES:
            return frozenset(self.labs)
        return frozenset(self.families.get(family, ()))

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

    def topic(self, code: str) -> TopicInfo:
        """A topic's card data; every topic the engine produces has some (checked by the tests)."""
        return self.topics[code]

    def cutoff_in_unit(self, key: str, factor: float) -> float:
        """The effective cut-off in a unit `factor` times the canonical one, rounded to the
        precision it is stated at (a site's own figure keeps its own digits)."""
        value = self.cutoffs[key]
        info = self.cutoff_info[key]
        own = significant_figures(f"{value:g}") if value != info.value else 0
        return info.in_unit(value, factor, own)

    def cutoff_figure(self, key: str) -> str:
        """The effective cut-off as the guideline states it ("0.70"), or as a site set it."""
        info = self.cutoff_info[key]
        value = self.cutoffs[key]
        if info.stated and float(info.stated) == value:
            return info.stated
        return f"{value:g}"

    def cutoff_text(self, key: str, op: str) -> str:
        return f"{op} {self.cutoff_figure(key)} {self.cutoff_info[key].unit}"

    def warm(self) -> Knowledge:
        """Build every index now, so no call pays for one."""
        _ = self.condition_names, self.condition_codes, self.condition_whole_names
        _ = self.condition_validity, self.condition_fallbacks, self.medication_names
        _ = self.medication_codes, self.plausible_limits, self.source_min_ages
        _ = self.orderable_loincs, self.test_loincs
        return self
