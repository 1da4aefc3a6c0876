"""Conditions: match the patient's active conditions against the knowledge value sets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cds.engine.dates import When, months_before, parse_when
from cds.engine.fhirjson import Entry, SubjectCheck, codings, obj, reference_id, status_codes, text
from cds.knowledge import Knowledge, word_form
from cds.knowledge.phrases import PhraseIndex

ACTIVE = frozenset({"active", "recurrence", "relapse"})
# Text cues that the words name someone else's condition, an absent one or a past one. Only
# the text fallback heeds them: a code says what it says.
_NOT_THE_PATIENTS_CONDITION = PhraseIndex(
    (word_form(cue), cue)
    for cue in (
        "family history", "fh", "history of", "no", "not", "denies", "denied",
        "negative for", "ruled out", "rule out", "excluded", "absence of", "screening for",
    )
)
# "without" negates only what follows it: "Twitching without weakness" is twitching, and
# "Coeliac disease without complication" is still coeliac disease.
_WITHOUT = (" without ", " free of ")


def _before_without(words: str) -> str:
    for cue in _WITHOUT:
        cut = words.find(cue)
        if cut >= 0:
            words = words[: cut + 1]
    return words
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


def _latest_date(resource: dict) -> When | None:
    """The latest of when it began and when it was recorded: how recent the record is."""
    candidates = (
        resource.get("onsetDateTime"),
        obj(resource, "onsetPeriod").get("start"),
        resource.get("recordedDate"),
    )
    parsed = [w for w in (parse_when(c) for c in candidates) if w is not None]
    return max(parsed) if parsed else None


def _expired(resource: dict, months: int, now: datetime) -> bool:
    """A time-limited condition recorded longer ago than its window; undated ones stand."""
    latest = _latest_date(resource)
    return latest is not None and latest.day < months_before(now, months)


def read_conditions(
    items: Iterable[Entry], knowledge: Knowledge, subject: SubjectCheck, now: datetime | None = None
) -> tuple[ConditionMatch, ...]:
    """Active conditions matched to value set members; with `now`, time-limited members
    (knowledge `valid_months`) recorded longer ago than their window are left out."""
    snomed = knowledge.systems["snomed"]
    icd10 = knowledge.systems["icd10"]
    index = knowledge.condition_codes
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
            if _NOT_THE_PATIENTS_CONDITION.find(words):
                words = ""  # "Family history of ALS", "No facial weakness": never a text match
            words = _before_without(words)
            # The first coding that names a member decides how it matched; text comes last.
            how_matched: dict[tuple[str, str], str] = {}
            for system, value, _display in coded:
                if system in snomed:
                    for vs_key, member in index.snomed.get(value, ()):
                        how_matched.setdefault((vs_key, member.key), "snomed")
                elif system in icd10:
                    for vs_key, member in index.by_icd10(value):
                        how_matched.setdefault((vs_key, member.key), "icd10")
            for key in knowledge.condition_names.find(words):
                how_matched.setdefault(key, "text")
            for key in knowledge.condition_whole_names.get(words, ()):  # the whole name, reviewed
                how_matched.setdefault(key, "text")
            # A broad name ("weakness") stands only when nothing narrower in its set matched.
            broad = knowledge.condition_fallbacks
            for key in [k for k, how in how_matched.items() if how == "text" and k in broad]:
                if any(other[0] == key[0] and other != key for other in how_matched):
                    del how_matched[key]
            if now is not None:
                validity = knowledge.condition_validity
                for key in [k for k in how_matched if k in validity]:
                    if _expired(resource, validity[key], now):
                        del how_matched[key]
            for vs_key, member_key in sorted(how_matched, key=index.order.__getitem__):
                found.append(
                    ConditionMatch(
                        value_set=vs_key,
                        member=member_key,
                        display=label or index.displays[(vs_key, member_key)],
                        matched_by=how_matched[(vs_key, member_key)],
                        reference=reference_id(resource),
                        onset=parse_when(resource.get("onsetDateTime")),
                    )
                )
        except (TypeError, ValueError, AttributeError, OverflowError):
            continue
    return tuple(found)
