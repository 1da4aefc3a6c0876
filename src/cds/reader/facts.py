"""What the reader makes of a chart: typed facts, each resource read once.

These records are the contract between the reader (FHIR JSON in) and the engine (findings out).
They say what the chart holds, never what it means clinically: whether a result is recent,
low or conflicting is the engine's decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from msgspec import Struct

from cds.reader.dates import When


class SetAsideKind(StrEnum):
    """Why a result of a known test is not used. The kind decides what follows (a retest or
    not); the reason is what the card says."""

    MALFORMED = "malformed"  # the resource does not have the shape FHIR gives it
    UNREADABLE = "unreadable"  # no number, an unknown unit, a reason the value is absent...
    IMPLAUSIBLE = "implausible"  # outside physiological limits: a data or sample error
    UNDATED = "undated"  # no usable date
    FUTURE = "future"  # dated after today
    NOT_REPORTABLE = "not-reportable"  # registered, preliminary-less pending states...
    UNCONFIRMED_SUBJECT = "unconfirmed-subject"  # no subject: may be another patient's
    CONFLICT = "conflict"  # disagrees with another result taken at the same time (engine)

    @property
    def retest(self) -> bool:
        """The result is as good as not done and a new sample is the remedy."""
        return self not in (SetAsideKind.NOT_REPORTABLE, SetAsideKind.UNCONFIRMED_SUBJECT)


def number_text(number: float) -> str:
    """A reported number as text: 8.0 -> "8", 0.7 -> "0.7" (JSON keeps no trailing zeros)."""
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def quantity_text(number: float, comparator: str | None, unit: str) -> str:
    """A reported quantity as text: "<150 pg/mL"."""
    return f"{comparator or ''}{number_text(number)} {unit}".strip()


class LabResult(Struct, frozen=True, gc=False):
    """A usable result of a test the knowledge interprets."""

    analyte: str  # knowledge key: "b12_total", "magnesium", ...
    loinc: str  # the code it carried
    reference: str  # "Observation/42"
    status: str  # "final", "amended", "corrected" or "preliminary"
    when: When
    value: float  # in the canonical unit (value as reported x factor)
    unit: str  # the canonical unit
    reported_value: float  # the number as the laboratory reported it
    reported_unit: str  # the unit as the laboratory spelled it
    factor: float = 1.0  # reported unit -> canonical unit
    comparator: str | None = None  # "<", "<=", ">", ">=": a bound, not a value
    from_text: str | None = None  # the text the value was read from (">2000 pg/mL")

    @property
    def effective(self) -> str:
        return self.when.raw

    @property
    def reported(self) -> str:
        """As the laboratory reported it: "<150 pg/mL"."""
        return quantity_text(self.reported_value, self.comparator, self.reported_unit)


class SetAside(Struct, frozen=True, gc=False):
    """A result of a known test that cannot be used, and why."""

    analyte: str
    reference: str
    kind: SetAsideKind
    reason: str
    when: When | None = None  # when it was taken, where known and not in the future
    reported: str | None = None  # what the laboratory sent, shortened ("'>2000' pg/mL")


class OtherResult(Struct, frozen=True, gc=False):
    """A result of a test a card can suggest but the knowledge does not interpret (vitamin D,
    a liver panel): only whether a usable one exists, and when, matters."""

    loincs: tuple[str, ...]
    reference: str
    when: When


class MedicationState(StrEnum):
    CURRENT = "current"
    PAST = "past"
    UNCERTAIN = "uncertain"  # status or dates leave it open: confirm with the patient
    ORDERED = "ordered"  # a draft order being placed now


class MatchedBy(StrEnum):
    RXNORM = "rxnorm"
    ATC = "atc"
    SNOMED = "snomed"
    ICD10 = "icd10"
    NAME = "name"  # the record's name is exactly a known ingredient or condition name
    TEXT = "text"  # words in the record's name resemble a known name: worth verifying


class MedicationRecord(Struct, frozen=True, gc=False):
    """One MedicationStatement or MedicationRequest of the patient."""

    reference: str
    resource_type: str
    status: str  # as recorded ("missing" when absent)
    state: MedicationState
    name: str  # as the chart names it ("" when it has no name)
    classes: tuple[tuple[str, MatchedBy], ...]  # knowledge classes and how each matched
    codes: tuple[tuple[str, str], ...]  # (canonical system, code) of what was taken
    names: tuple[str, ...]  # every name of what was taken, lower case
    start: When | None = None
    end: When | None = None  # the latest end date it states
    last_known: When | None = None  # the latest date it mentions
    note: str | None = None  # why a current status counts as history or is uncertain
    supply_ends: When | None = None  # when a prescription's supply and refills run out


class MedicationUse(Struct, frozen=True, gc=False):
    """A medication record as one class the rules read."""

    record: MedicationRecord
    class_key: str
    matched_by: MatchedBy

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def reference(self) -> str:
        return self.record.reference

    @property
    def state(self) -> MedicationState:
        return self.record.state

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def start(self) -> When | None:
        return self.record.start

    @property
    def end(self) -> When | None:
        return self.record.end

    @property
    def last_known(self) -> When | None:
        return self.record.last_known

    @property
    def note(self) -> str | None:
        return self.record.note


class ConditionMatch(Struct, frozen=True, gc=False):
    value_set: str  # "twitching", "malabsorption", ...
    member: str  # "hemifacial-spasm"
    display: str  # as the chart names it, else the value set member's name
    matched_by: MatchedBy
    reference: str
    onset: When | None = None


class PatientRecord(Struct, frozen=True, gc=False):
    patient_id: str
    birth_date: str | None = None
    deceased: bool = False
    aliases: frozenset[str] = frozenset()  # fullUrls it appears under (urn:uuid subjects)


class KeyProblem(StrEnum):
    NOT_SENT = "not-sent"  # not prefetched and not fetched
    FAILED = "failed"  # the EHR's prefetch or the fetch failed
    NOT_FHIR = "not-fhir"  # the value is not a FHIR resource the reader can use
    PARTIAL = "partial"  # one page of a longer list


class KeyState(Struct, frozen=True, gc=False):
    """A prefetch key whose data is missing or only partly there, and why."""

    key: str
    problem: KeyProblem
    detail: str  # in a clinician's words: "the EHR sent 2 of 230 entries"
    # a partial page of results in newest-first order: when its oldest result was taken (None
    # when the page holds none or its order cannot be seen, so how far back it reaches is unknown)
    oldest: When | None = None

    @property
    def partial(self) -> bool:
        return self.problem is KeyProblem.PARTIAL


class UnreadableRecord(Struct, frozen=True, gc=False):
    """A medicine or condition record no reader could use, named with why (counted, never
    silently lost), with what could still be made out of it."""

    reference: str
    resource_type: str
    reason: str
    codes: tuple[tuple[str, str], ...] = ()  # (canonical system, code)
    names: tuple[str, ...] = ()  # lower case


class DraftOrders(Struct, frozen=True, gc=False):
    judged: tuple[MedicationRecord, ...]  # the orders the rules judge (selected ones, or all at sign)
    context: tuple[MedicationRecord, ...]  # other draft orders of this patient, for context only
    test_loincs: frozenset[str]  # LOINC codes of tests already among the draft orders
    # selections that name no draft order: (position in context.selections, the selection)
    unknown_selections: tuple[tuple[int, str], ...] = ()
    problem: str | None = None  # draftOrders is not a Bundle the reader can use


class Chart(Struct, frozen=True, gc=False):
    """Everything read from one call's prefetch, for one patient."""

    patient_id: str
    patient: PatientRecord | None
    results: Mapping[str, tuple[LabResult, ...]]  # per analyte, newest first
    other_results: tuple[OtherResult, ...]
    set_aside: tuple[SetAside, ...]
    medications: tuple[MedicationRecord, ...]
    conditions: tuple[ConditionMatch, ...]
    key_states: Mapping[str, KeyState]  # prefetch keys that are missing or partial
    # the prefetch keys that carry laboratory results, sent or found missing, with the analytes
    # each holds results of: which key states leave which analytes' recent results unknown
    result_keys: Mapping[str, frozenset[str]] = {}
    unreadable: tuple[UnreadableRecord, ...] = ()  # medicines and conditions that could not be read
    orders: DraftOrders | None = None  # the orders being placed (order-select, order-sign)
