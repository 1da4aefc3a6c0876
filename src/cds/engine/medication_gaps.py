"""What a B12 card must say about the medication list: ended B12 records, records that cannot
be told current, and current records nobody can identify.

An ended B12 record never stops a treatment offer, but the clinician sees it ("B12 recorded
until DATE"). Unidentified records (no known code, no name) might be B12: when treatment is
offered the card says how many to check.
"""

from __future__ import annotations

from dataclasses import replace

from cds.engine.facts import PatientFacts
from cds.engine.model import DataGap, Finding, Topic

_B12_TOPICS = frozenset(
    {Topic.B12_DEFICIENCY, Topic.B12_INDETERMINATE, Topic.B12_TESTING_RECOMMENDED, Topic.B12_ELEVATED}
)


def _ended_b12(facts: PatientFacts) -> list[DataGap]:
    gaps = []
    for use in facts.meds("b12-therapy", "past"):
        item = f"{use.reference} ({use.name})"
        if use.note:  # "active" by status, ended by its dates
            gaps.append(DataGap(item, f"B12 {use.note}: history, not current therapy"))
        elif use.end is not None:
            gaps.append(DataGap(item, f"B12 recorded until {use.end.day.isoformat()}"))
    return gaps


def _unidentified(facts: PatientFacts) -> list[DataGap]:
    gaps = []
    count = len(facts.unidentified_medications)
    if count:
        records = "record" if count == 1 else "records"
        gaps.append(
            DataGap(
                "medications",
                f"{count} current medication {records} could not be identified (code not known, no name): "
                "check whether the patient already takes B12 before ordering",
            )
        )
    for record in facts.chart.unreadable:
        if record.resource_type != "Condition":
            gaps.append(
                DataGap(
                    record.reference,
                    f"medication record could not be read ({record.reason}): check whether the patient "
                    "already takes B12 before ordering",
                )
            )
    return gaps


def medication_record_gaps(findings: list[Finding], facts: PatientFacts) -> list[Finding]:
    ended = _ended_b12(facts)
    unknown = _unidentified(facts)
    if not ended and not unknown:
        return findings
    result = []
    for finding in findings:
        extra = list(ended) if finding.topic in _B12_TOPICS else []
        if finding.treatments:
            extra += unknown
        known = {(g.item, g.reason) for g in finding.gaps}
        extra = [g for g in extra if (g.item, g.reason) not in known]
        result.append(replace(finding, gaps=finding.gaps + tuple(extra)) if extra else finding)
    return result
