"""The order services: draft medication orders in, engine findings about them, cards out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cds.cards.builder import CardContext, build_cards
from cds.cards.catalog import load_catalog
from cds.cards.chart import chart_facts
from cds.cards.runtime import runtime_for
from cds.engine import assess_orders
from cds.errors import BadRequest

if TYPE_CHECKING:  # handlers imports this module; the type is only needed for checking
    from cds.handlers import HookCall


def _selections(call: HookCall) -> list[str] | None:
    """order-select judges the selected orders only; order-sign judges every draft order."""
    if call.request.hook != "order-select":
        return None
    value = call.request.context.get("selections")
    if not isinstance(value, list) or not value:
        raise BadRequest("context.selections must list the selected orders", location="context.selections")
    return [s for s in value if isinstance(s, str)]


def orders_response(call: HookCall) -> dict[str, Any]:
    patient_id = call.request.patient_id
    if not patient_id:
        raise BadRequest("context.patientId is required by this service", location="context.patientId")
    draft_orders = call.request.context.get("draftOrders")
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise BadRequest("context.draftOrders must be a FHIR Bundle", location="context.draftOrders")
    runtime = runtime_for(call.settings)
    data = call.prefetch.data
    assessment = assess_orders(
        data,
        draft_orders,
        patient_id,
        call.now,
        runtime.knowledge,
        dict(call.prefetch.unavailable),
        _selections(call),
    )
    if not assessment.findings:
        return {"cards": []}
    ctx = CardContext(
        hook_instance=call.request.hook_instance,
        patient_id=patient_id,
        base_url=call.base_url,
        catalog=load_catalog(),
        notes=runtime.knowledge.notes,
        sources=runtime.knowledge.sources,
        chart=chart_facts(data, patient_id, call.now, call.settings.recent_months, runtime.same_test),
    )
    return {"cards": build_cards(assessment.findings, ctx)}
