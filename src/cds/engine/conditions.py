"""Conditions: match the patient's active conditions against the knowledge value sets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cds.engine.dates import When, parse_when
from cds.engine.fhirjson import Entry, SubjectCheck, codings, obj, reference_id, status_codes, text
from cds.knowledge import Knowledge, word_form

ACTIVE = frozenset({"active", "recurrence", "relapse"})
# Text cues that the words name someone else's condition, an absent one or a past one. Only
# the text fallback heeds them: a code says what it says.
_NOT_THE_PATIENTS_CONDITION = tuple(
    word_form(cue)
    for cue in (
        "family history", "fh", "history of", "no", "not", "denies", "denied",
        "negative for", "ruled out", "rule out", "excluded", "absence of", "screening for",
    )
)
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})


@dataclass(frozen=True)
class ConditionMatch:
    value_set: str  # "twitching", "malabsorption", ...
    member: str  # "hemifacial-spasm"
    display: str  # as the chart names it, else the value set member's name
    matched_by: str  # "snomed" | "icd10" | "text"
    reference: str
    onset: When | None


def _usable(resource: dict, subject: SubjectCheck) -> bool:
    if subject.verdict(resource) is not None:
        return False  # conditions without a confirmed subject never trigger advice
    clinical = status_codes(obj(resource, "clinicalStatus"))
    if clinical:
        if not clinical & ACTIVE:
            return False
    elif any(key.startswith("abatement") for key in resource):
        return False  # no status, but it has ended
    # No clinicalStatus at all (allowed in R4 outside the problem list, e.g. an encounter
    # diagnosis): counted as current, since missing a documented red flag is the worse error.
    return not status_codes(obj(resource, "verificationStatus")) & EXCLUDED_VERIFICATION


def read_conditions(
    items: Iterable[Entry], knowledge: Knowledge, subject: SubjectCheck
) -> tuple[ConditionMatch, ...]:
    snomed = knowledge.systems["snomed"]
    icd10 = knowledge.systems["icd10"]
    found: list[ConditionMatch] = []
    for entry in items:
        resource = entry.resource
        if resource.get("resourceType") != "Condition":
            continue
        try:
            if not _usable(resource, subject):
                continue
            code = obj(resource, "code")
            coded = [(s, c.upper().replace(".", ""), d) for s, c, d in codings(code)]
            label = text(code, "text") or next((d for _s, _c, d in coded if d), None)
            # Text is the last resort, for codes the value sets do not list (e.g. another
            # SNOMED CT descendant): whole words of code.text and every coding display.
            words = word_form(" ".join(filter(None, (text(code, "text"), *(d for *_, d in coded)))))
            if any(cue in words for cue in _NOT_THE_PATIENTS_CONDITION):
                words = ""  # "Family history of ALS", "No facial weakness": never a text match
            named = knowledge.condition_names.find(words)
            seen: set[tuple[str, str]] = set()
            for vs_key, value_set in knowledge.value_sets.items():
                for member in value_set.members:
                    how = None
                    for system, value, _display in coded:
                        if system in snomed and value in member.snomed:
                            how = "snomed"
                        elif system in icd10 and value.startswith(member.icd10_prefixes):
                            how = "icd10"
                        if how:
                            break
                    if how is None and (vs_key, member.key) in named:
                        how = "text"
                    if how and (vs_key, member.key) not in seen:
                        seen.add((vs_key, member.key))
                        found.append(
                            ConditionMatch(
                                value_set=vs_key,
                                member=member.key,
                                display=label or member.display,
                                matched_by=how,
                                reference=reference_id(resource),
                                onset=parse_when(resource.get("onsetDateTime")),
                            )
                        )
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue
    return tuple(found)
