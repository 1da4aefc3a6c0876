"""The one reader of the chart: FHIR R4 JSON in, typed facts out (pure: no I/O, no clock).

Every prefetch value is decoded once (`fhir.decode`) and every resource read once, by the
reader for its type, into the records of `facts`. Nothing outside this package reads FHIR JSON.
"""

from cds.reader.chart import completeness, decode_prefetch, next_link, read_chart
from cds.reader.dates import When, parse_when
from cds.reader.facts import (
    Chart,
    ConditionMatch,
    DraftOrders,
    KeyProblem,
    KeyState,
    LabResult,
    MatchedBy,
    MedicationRecord,
    MedicationState,
    MedicationUse,
    OtherResult,
    PatientRecord,
    SetAside,
    SetAsideKind,
    UnreadableRecord,
)
from cds.reader.fhir import NOTHING_SENT, Decoded, NotJson, decode

__all__ = [
    "NOTHING_SENT",
    "Chart",
    "ConditionMatch",
    "Decoded",
    "DraftOrders",
    "KeyProblem",
    "KeyState",
    "LabResult",
    "MatchedBy",
    "MedicationRecord",
    "MedicationState",
    "MedicationUse",
    "NotJson",
    "OtherResult",
    "PatientRecord",
    "SetAside",
    "SetAsideKind",
    "UnreadableRecord",
    "When",
    "completeness",
    "decode",
    "decode_prefetch",
    "next_link",
    "parse_when",
    "read_chart",
]
