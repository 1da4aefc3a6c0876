"""What the guideline engine returns: findings with their evidence, gaps and recommendations.

These types are the contract between the pure engine and everything around it (cards,
replay, analytics). They hold plain values only, so `dataclasses.asdict` gives JSON. The
engine makes every clinical choice; whoever renders a finding only words it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    """Public topic codes: EHR analytics count them, so never rename one."""

    B12_DEFICIENCY = "b12-deficiency"
    B12_INDETERMINATE = "b12-indeterminate"
    B12_TESTING_RECOMMENDED = "b12-testing-recommended"
    B12_ELEVATED = "b12-elevated"
    B12_TREATMENT_MONITORING = "b12-treatment-monitoring"
    HYPOMAGNESEMIA = "hypomagnesemia"
    MAGNESIUM_TESTING_RECOMMENDED = "magnesium-testing-recommended"
    HYPOCALCEMIA = "hypocalcemia"
    ELECTROLYTE_IMBALANCE = "electrolyte-imbalance"
    TWITCHING_WORKUP = "twitching-workup"
    TWITCHING_RED_FLAGS = "twitching-red-flags"
    B12_DUPLICATE_THERAPY = "b12-duplicate-therapy"
    FOLATE_WITHOUT_B12 = "folate-without-b12"
    RESULT_UNREADABLE = "result-unreadable"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


# Most severe first: the order of cards in an answer and of abnormalities on one card.
SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Evidence:
    """One laboratory result as used by a rule."""

    analyte: str  # knowledge key, e.g. "b12_total", "magnesium", "calcium_corrected"
    display: str  # "Vitamin B12"
    loinc: str  # the code the result carried ("" for a value the engine derived)
    reported: str  # as reported, comparator and unit included: "<150 pg/mL"
    value: float  # in the canonical unit
    unit: str  # canonical unit: "ng/L"
    comparator: str | None  # "<", "<=", ">", ">=" or None
    effective: str  # ISO 8601 date or dateTime, as in the resource
    cutoff: str  # the cut-off the rule applied, in words: "< 180 ng/L"
    source: str  # knowledge source key of the cut-off (see knowledge/sources.json)
    reference: str  # "Observation/123"; for a derived value, the inputs joined by " + "
    status: str = "final"  # FHIR status; "preliminary" results count but are flagged
    note: str | None = None  # e.g. "corrected for albumin 30 g/L (2026-09-01)"
    # The number and unit as the laboratory reported them (a derived value: its own).
    reported_value: float | None = None
    reported_unit: str = ""
    derived: bool = False  # computed by the engine (albumin-corrected calcium), not reported
    cutoff_figures: tuple[str, ...] = ()  # the cut-off numbers as the guideline states them
    grade: str = ""  # how abnormal, in a clinician's words: "severely low", "slightly low"
    ago: str = ""  # how long before "now" it was taken: "12 days ago" (set by the engine last)


@dataclass(frozen=True)
class Cause:
    """A likely cause or risk factor found in the chart."""

    kind: str  # "medication" | "condition" | "age" | "diet"
    key: str  # knowledge key: "metformin", "ppi", "pernicious-anaemia", "age-65-plus"
    display: str  # "Metformin (since 2024-03-01)"
    matched_by: str | None = None  # "rxnorm" | "atc" | "snomed" | "icd10" | "text"
    reference: str | None = None  # "MedicationRequest/7"
    since: str | None = None  # start date where known


class GapKind(StrEnum):
    MISSING = "missing"  # no usable result of a test
    STALE = "stale"  # the latest result is too old to count
    SET_ASIDE = "set-aside"  # a result that could not be used
    UNAVAILABLE = "unavailable"  # a prefetch key the service could not have
    RECORD = "record"  # a medicine, a diagnosis or the age, and what to confirm


@dataclass(frozen=True)
class DataGap:
    """Data that was missing, stale, set aside or unavailable, and why."""

    item: str  # "Magnesium", "Observation/42 (Vitamin B12)", "conditions"
    reason: str  # "no result in the last 12 months", "unit 'mcg/dL' not recognised"
    kind: GapKind = GapKind.RECORD


@dataclass(frozen=True)
class TestRecommendation:
    key: str  # knowledge key of the test: "mma", "homocysteine", "magnesium"
    loinc: str
    display: str
    reason: str
    # Deliberately repeats a test with a recent result that cannot settle the card (a total
    # calcium too old for any new albumin to correct): the safety check lets it through.
    repeat: bool = False


@dataclass(frozen=True)
class SharedTest:
    """A test this finding needs that another card of the same answer already offers."""

    display: str  # "Albumin (serum)"
    card: str  # title of the finding that carries the order: "Low magnesium"
    key: str = ""  # knowledge key of the test


@dataclass(frozen=True)
class TreatmentOption:
    key: str  # knowledge key in treatments.json: "b12-oral", "b12-sublingual", "b12-im", "b12-im-neuro"
    recommended: bool


@dataclass(frozen=True)
class Finding:
    topic: Topic
    severity: Severity
    title: str  # short name for the summary line: "Vitamin B12 deficiency"
    primary: Evidence | None = None  # the result the summary quotes
    evidence: tuple[Evidence, ...] = ()
    causes: tuple[Cause, ...] = ()
    gaps: tuple[DataGap, ...] = ()
    tests: tuple[TestRecommendation, ...] = ()
    treatments: tuple[TreatmentOption, ...] = ()
    notes: tuple[str, ...] = ()  # knowledge keys of caveats/advice (knowledge/notes.json)
    sources: tuple[str, ...] = ()  # knowledge source keys
    symptoms: tuple[Cause, ...] = ()  # documented twitching, neuropathy or red flags used
    remove_orders: tuple[Cause, ...] = ()  # draft orders the card offers to delete (order services)
    # Records the card refers to that are neither causes nor symptoms: a diagnosis such as
    # ALS, the B12 therapy already on record, the orders being signed.
    on_record: tuple[Cause, ...] = ()
    advice: tuple[str, ...] = ()  # note keys shown under "What to do" in place of the topic's routine advice
    # Tests this finding needs that an earlier card already offers: named, never ordered twice.
    tests_elsewhere: tuple[SharedTest, ...] = ()
    # The safety check's decisions: tests not offered because the chart has a recent result,
    # and whether treatment was withheld because a current medicine already holds vitamin B12.
    withheld_tests: tuple[str, ...] = ()
    treatment_withheld: bool = False
    # Cards of the same answer this one depends on (titles): "Low magnesium" on a low calcium
    # card when magnesium, low in the same sample, must be corrected first.
    see_also: tuple[str, ...] = ()
    # Caveats that fit this chart better than their priority says (shown first).
    fitting_notes: tuple[str, ...] = ()
