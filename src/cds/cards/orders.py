"""The order services: draft medication orders in, engine findings about them, cards out."""

from __future__ import annotations

from typing import Any

from cds.cards.guideline import cards_response, context_patient_id
from cds.cards.runtime import runtime_for
from cds.engine import assess_orders
from cds.errors import BadRequest
from cds.services.call import HookCall


def _selections(call: HookCall) -> list[str] | None:
    """order-select judges the selected orders only; order-sign judges every draft order."""
    if call.request.hook != "order-select":
        return None
    value = call.request.context.get("selections")
    if not isinstance(value, list) or not value:
        raise BadRequest("context.selections must list the selected orders", location="context.selections")
    selections = [s for s in value if isinstance(s, str)]
    _check_selections_in_draft_orders(selections, call.request.context.get("draftOrders"))
    return selections


def _check_selections_in_draft_orders(selections: list[str], draft_orders: Any) -> None:
    """The hook defines draftOrders as holding every unsigned order, the selected ones included."""
    known: set[str] = set()
    entries = (draft_orders.get("entry") or ()) if isinstance(draft_orders, dict) else ()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if isinstance(resource, dict):
            kind, ident = resource.get("resourceType"), resource.get("id")
            if isinstance(kind, str) and isinstance(ident, str):
                known.add(f"{kind}/{ident}")
        if isinstance(entry.get("fullUrl"), str):
            known.add(entry["fullUrl"])
    for index, selection in enumerate(selections):
        if selection not in known:
            raise BadRequest(
                f"context.selections[{index}] '{selection[:100]}' names no entry of context.draftOrders",
                location=f"context.selections[{index}]",
            )


def orders_response(call: HookCall) -> dict[str, Any]:
    patient_id = context_patient_id(call)
    draft_orders = call.request.context.get("draftOrders")
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise BadRequest("context.draftOrders must be a FHIR Bundle", location="context.draftOrders")
    assessment = assess_orders(
        call.prefetch.data,
        draft_orders,
        patient_id,
        call.now,
        runtime_for(call.settings).knowledge,
        dict(call.prefetch.unavailable),
        _selections(call),
    )
    return cards_response(call, patient_id, assessment.findings, assessment.facts)
