"""The guideline service: prefetch in, engine findings, cards out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cds.cards.builder import CardContext, build_cards
from cds.cards.catalog import load_catalog
from cds.cards.chart import chart_facts
from cds.cards.modes import topic_modes
from cds.cards.runtime import runtime_for
from cds.cards.version import with_version
from cds.engine import assess
from cds.engine.facts import PatientFacts
from cds.engine.model import Finding
from cds.errors import BadRequest
from cds.services.call import HookCall


def context_patient_id(call: HookCall) -> str:
    patient_id = call.request.patient_id
    if not patient_id:
        raise BadRequest("context.patientId is required by this service", location="context.patientId")
    return patient_id


def cards_response(
    call: HookCall, patient_id: str, findings: Sequence[Finding], facts: PatientFacts | None = None
) -> dict[str, Any]:
    """The CDS Hooks response for these findings (no card work at all when there are none).
    `facts`, the assessment's reading of the chart, spares the chart check a second read of
    the results.

    Cards of silent topics go to `call.silent_cards` for the audit; off topics are dropped.
    """
    shown, silent = topic_modes(call.settings).split(findings)
    if not shown and not silent:
        return {"cards": []}
    runtime = runtime_for(call.settings)
    ctx = CardContext(
        hook_instance=call.request.hook_instance,
        patient_id=patient_id,
        base_url=call.base_url,
        catalog=load_catalog(),
        notes=runtime.knowledge.notes,
        note_priority=runtime.knowledge.note_priority,
        sources=runtime.knowledge.sources,
        chart=chart_facts(
            call.prefetch.data,
            patient_id,
            call.now,
            runtime.knowledge,
            recent_loincs=facts.recent_loincs if facts is not None else None,
        ),
    )
    if silent:
        call.silent_cards.extend(with_version(build_cards(silent, ctx), call.settings))
    return {"cards": with_version(build_cards(shown, ctx), call.settings) if shown else []}


def guideline_response(call: HookCall) -> dict[str, Any]:
    patient_id = context_patient_id(call)
    knowledge = runtime_for(call.settings).knowledge
    unavailable = dict(call.prefetch.unavailable)
    hidden = topic_modes(call.settings).hidden
    assessment = assess(call.prefetch.data, patient_id, call.now, knowledge, unavailable, hidden)
    return cards_response(call, patient_id, assessment.findings, assessment.facts)
