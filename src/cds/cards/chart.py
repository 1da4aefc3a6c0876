"""What the chart already holds, for a defensive check on suggestions.

The engine decides which tests and treatments to offer; this second, independent look at
the prefetch makes sure no card repeats a test with a recent result or starts a drug the
patient already takes, even if a rule has a bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from cds.knowledge import code_fits

LOINC = "http://loinc.org"
_COUNTED_RESULT = {"final", "amended", "corrected", "preliminary", "registered"}
_ACTIVE_REQUEST = {"active", "on-hold", "draft"}
_ACTIVE_STATEMENT = {"active", "intended", "on-hold", "unknown"}


@dataclass(frozen=True)
class ChartFacts:
    recent_loincs: frozenset[str] = frozenset()
    medication_codes: frozenset[str] = frozenset()  # "system|code" of active medicines
    medication_texts: tuple[str, ...] = ()  # lower-cased names of active medicines


def resources_of(value: Any, resource_type: str) -> Iterator[dict[str, Any]]:
    """Resources of one type from a prefetch value (Bundle, single resource or None)."""
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == resource_type:
                yield resource
    elif value.get("resourceType") == resource_type:
        yield value


def _belongs_to(resource: Mapping[str, Any], patient_id: str) -> bool:
    subject = resource.get("subject")
    if not isinstance(subject, dict) or "reference" not in subject:
        return True  # the prefetch query was scoped to the patient; counting it errs towards silence
    reference = str(subject["reference"])
    return reference == f"Patient/{patient_id}" or reference.endswith(f"/Patient/{patient_id}")


def _date_of(resource: Mapping[str, Any]) -> date | None:
    raw = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    raw = raw or resource.get("issued")
    if not isinstance(raw, str) or len(raw) < 4:
        return None
    try:
        return date.fromisoformat(raw[:10]) if len(raw) >= 10 else date(int(raw[:4]), 1, 1)
    except ValueError:
        return None


def _all_codings(concept: Any) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        codings = concept.get("coding")
        for coding in codings if isinstance(codings, list) else ():
            if isinstance(coding, dict):
                yield coding


def _codings(concept: Any) -> Iterator[dict[str, Any]]:
    """Codings whose code can be looked up: a string no longer than any real code."""
    for coding in _all_codings(concept):
        code = coding.get("code")
        if isinstance(code, str) and code_fits(code):
            yield coding


def _names(concept: Any) -> Iterator[str]:
    if isinstance(concept, dict):
        if isinstance(concept.get("text"), str):
            yield concept["text"].lower()
        for coding in _all_codings(concept):
            if isinstance(coding.get("display"), str):
                yield coding["display"].lower()


def chart_facts(
    data: Mapping[str, Any],
    patient_id: str,
    now: datetime,
    recent_months: int,
    same_test: Mapping[str, Iterable[str]] | None = None,
) -> ChartFacts:
    """`same_test` maps a LOINC to the codes of the same analyte (mass and molar B12, ...)."""
    since = now.date() - timedelta(days=round(recent_months * 30.44))
    loincs: set[str] = set()
    for obs in resources_of(data.get("observations"), "Observation"):
        if obs.get("status") not in _COUNTED_RESULT or not _belongs_to(obs, patient_id):
            continue
        when = _date_of(obs)
        if when is None or when < since:
            continue
        for coding in _codings(obs.get("code")):
            if coding.get("system") == LOINC:
                loincs.add(coding["code"])
                loincs.update((same_test or {}).get(coding["code"], ()))

    codes: set[str] = set()
    texts: list[str] = []
    for key, kind, active in (
        ("medicationRequests", "MedicationRequest", _ACTIVE_REQUEST),
        ("medicationStatements", "MedicationStatement", _ACTIVE_STATEMENT),
    ):
        for med in resources_of(data.get(key), kind):
            if med.get("status") not in active or not _belongs_to(med, patient_id):
                continue
            concept = med.get("medicationCodeableConcept")
            codes.update(f"{c.get('system', '')}|{c['code']}" for c in _codings(concept))
            texts.extend(_names(concept))
            reference = med.get("medicationReference")
            if isinstance(reference, dict) and isinstance(reference.get("display"), str):
                texts.append(reference["display"].lower())
    return ChartFacts(frozenset(loincs), frozenset(codes), tuple(texts))


def takes_any(facts: ChartFacts, guard: Mapping[str, Any]) -> bool:
    """Whether an active medicine matches a treatments.json `alreadyTaking` guard."""
    for entry in facts.medication_codes:
        system, _, code = entry.partition("|")
        if "atc" in system.lower() and any(code.startswith(p) for p in guard.get("atcPrefixes", ())):
            return True
        if "rxnorm" in system.lower() and code in guard.get("rxnorm", ()):
            return True
    patterns = [p.lower() for p in guard.get("textPatterns", ())]
    return any(p in text for text in facts.medication_texts for p in patterns)
