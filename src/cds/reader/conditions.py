"""Conditions: the patient's active conditions matched against the knowledge value sets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cds.knowledge import Knowledge, code_fits, name_fits, word_form
from cds.knowledge.phrases import PhraseIndex
from cds.reader.codes import SubjectCheck, codings, status_codes
from cds.reader.dates import When, months_before, parse_when
from cds.reader.facts import ConditionMatch, MatchedBy
from cds.reader.fhir import Entry, Resource

ACTIVE = frozenset({"active", "recurrence", "relapse"})
# Text cues that the words name someone else's condition, an absent one or a past one. Only
# the text fallback heeds them: a code says what it says.
_NOT_THE_PATIENTS_CONDITION = PhraseIndex(
    (word_form(cue), cue)
    for cue in (
        "family history",
        "fh",
        "history of",
        "no",
        "not",
        "denies",
        "denied",
        "negative for",
        "ruled out",
        "rule out",
        "excluded",
        "absence of",
        "screening for",
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


def _abated(resource: Resource) -> bool:
    return any(
        value is not None
        for value in (
            resource.abatementDateTime,
            resource.abatementPeriod,
            resource.abatementAge,
            resource.abatementRange,
            resource.abatementString,
            resource.abatementBoolean,
        )
    )


def _usable(resource: Resource, subject: SubjectCheck) -> bool:
    if subject.verdict(resource) is not None:
        return False  # conditions without a confirmed subject never trigger advice
    clinical = status_codes(resource.clinicalStatus)
    if clinical:
        if not clinical & ACTIVE:
            return False
    elif _abated(resource):
        return False  # no status, but it has ended
    # No clinicalStatus at all (allowed in R4 outside the problem list, e.g. an encounter
    # diagnosis): counted as current, since missing a documented red flag is the worse error.
    return not status_codes(resource.verificationStatus) & EXCLUDED_VERIFICATION


def _latest_date(resource: Resource) -> When | None:
    """The latest of when it began and when it was recorded: how recent the record is."""
    candidates = (
        resource.onsetDateTime,
        resource.onsetPeriod.start if resource.onsetPeriod else None,
        resource.recordedDate,
    )
    parsed = [w for w in (parse_when(c) for c in candidates) if w is not None]
    return max(parsed) if parsed else None


def _expired(resource: Resource, months: int, now: datetime) -> bool:
    """A time-limited condition recorded longer ago than its window; undated ones stand."""
    latest = _latest_date(resource)
    return latest is not None and latest.day < months_before(now, months)


Concept = tuple[str | None, tuple[tuple[str, str, str | None], ...]]  # (text, codings)
ConceptVerdict = tuple[str | None, tuple[tuple[tuple[str, str], MatchedBy], ...]]  # label, matches


def _judge_concept(concept: Concept, knowledge: Knowledge) -> ConceptVerdict:
    """What a Condition.code names: its label and each (value set, member) with how it
    matched. Depends on the concept alone, so a call judges each distinct concept once."""
    concept_text, coded = concept
    snomed = knowledge.systems["snomed"]
    icd10 = knowledge.systems["icd10"]
    index = knowledge.condition_codes
    label = concept_text or next((d for _s, _c, d in coded if d), None)
    # The first coding that names a member decides how it matched; text comes last.
    how_matched: dict[tuple[str, str], MatchedBy] = {}
    for system, raw_code, _display in coded:
        if not code_fits(raw_code):
            continue  # an over-long code cannot name anything: never looked up
        code = raw_code.upper().replace(".", "")
        if system in snomed:
            for vs_key, member in index.by_snomed(code):
                how_matched.setdefault((vs_key, member.key), MatchedBy.SNOMED)
        elif system in icd10:
            for vs_key, member in index.by_icd10(code):
                how_matched.setdefault((vs_key, member.key), MatchedBy.ICD10)
    # Text is the last resort, for codes the value sets do not list (e.g. another SNOMED CT
    # descendant): whole words of code.text and every coding display.
    names = [n for n in (concept_text, *(d for *_, d in coded)) if n and name_fits(n)]
    if names:
        words = word_form(" ".join(names))
        kept = _before_without(words)  # "twitching without ptosis": ptosis is not named
        by_text = knowledge.condition_names.find(kept)
        by_text.update(knowledge.condition_whole_names.get(kept, ()))  # the whole name, reviewed
        # "Family history of ALS", "No facial weakness": never a text match. Only looked for
        # when a name matched, since only then can it change the answer.
        if by_text and not _NOT_THE_PATIENTS_CONDITION.any(words):
            for key in sorted(by_text, key=index.order.__getitem__):
                how_matched.setdefault(key, MatchedBy.TEXT)
    # A broad name ("weakness") stands only when nothing narrower in its set matched.
    broad = knowledge.condition_fallbacks
    for key in [k for k, how in how_matched.items() if how is MatchedBy.TEXT and k in broad]:
        if any(other[0] == key[0] and other != key for other in how_matched):
            del how_matched[key]
    ordered = sorted(how_matched.items(), key=lambda item: index.order[item[0]])
    return label, tuple(ordered)


def read_conditions(
    items: Iterable[Entry], knowledge: Knowledge, subject: SubjectCheck, now: datetime
) -> tuple[ConditionMatch, ...]:
    """Active conditions matched to value set members; time-limited members (knowledge
    `valid_months`) recorded longer ago than their window are left out."""
    index = knowledge.condition_codes
    validity = knowledge.condition_validity
    # Charts repeat the same few concepts (and a hostile body the same text thousands of
    # times): each distinct concept is judged once per call, whatever the number of records.
    verdicts: dict[Concept, ConceptVerdict] = {}
    found: list[ConditionMatch] = []
    for entry in items:
        resource = entry.resource
        if resource is None or resource.resourceType != "Condition" or not _usable(resource, subject):
            continue
        code = resource.code
        concept: Concept = (code.text if code else None, tuple(codings(code)))
        verdict = verdicts.get(concept)
        if verdict is None:
            verdict = verdicts[concept] = _judge_concept(concept, knowledge)
        label, matches = verdict
        if not matches:
            continue
        onset = parse_when(resource.onsetDateTime)
        reference = resource.ref
        for (vs_key, member_key), how in matches:
            key = (vs_key, member_key)
            if key in validity and _expired(resource, validity[key], now):
                continue
            found.append(
                ConditionMatch(
                    value_set=vs_key,
                    member=member_key,
                    display=label or index.displays[key],
                    matched_by=how,
                    reference=reference,
                    onset=onset,
                )
            )
    return tuple(found)
