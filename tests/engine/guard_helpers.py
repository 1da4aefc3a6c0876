"""The engine's safety check run on hand-made findings against a chart given as FHIR JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds.engine.facts import PatientFacts, patient_facts
from cds.engine.guard import guard
from cds.engine.model import Finding
from cds.knowledge import load_knowledge
from cds.reader import read_chart

KNOWLEDGE = load_knowledge()


def facts_of(prefetch: dict[str, Any], now: datetime, patient_id: str = "p1") -> PatientFacts:
    return patient_facts(read_chart(prefetch, patient_id, now, KNOWLEDGE), now, KNOWLEDGE)


def guarded(findings: list[Finding], prefetch: dict[str, Any], now: datetime) -> list[Finding]:
    return guard(findings, facts_of(prefetch, now), KNOWLEDGE)
