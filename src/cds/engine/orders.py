"""Draft orders: the medication orders being placed now, read apart from the chart's medicines.

Only MedicationRequests count (a MedicationStatement is not an order). They are classified
with the chart's medication classifier and get the state "ordered". For order-select, the
selected orders are judged and the other draft orders only give context (a B12 order already
drafted, a diuretic drafted earlier in the same session).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cds.engine.fhirjson import Entry, SubjectCheck, arr, codings, entries, obj, text
from cds.engine.medications import MedicationUse, medication_index, read_medications
from cds.knowledge import Knowledge

ORDERED = "ordered"
# Statuses of an order still being placed; anything else (completed, stopped, cancelled...) is not.
_ORDERABLE = frozenset({"draft", "active"})
_LOINC = "http://loinc.org"


@dataclass(frozen=True)
class DraftOrders:
    judged: tuple[MedicationUse, ...]  # the orders the rules judge (selected ones, or all at sign)
    context: tuple[MedicationUse, ...]  # other draft orders of this patient, for context only
    test_loincs: frozenset[str]  # LOINC codes of tests already among the draft orders

    def judged_in(self, class_key: str) -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.judged if m.class_key == class_key)

    def any_in(self, class_key: str) -> tuple[MedicationUse, ...]:
        return tuple(m for m in (*self.judged, *self.context) if m.class_key == class_key)


def _is_selected(entry: Entry, selections: frozenset[str]) -> bool:
    resource = entry.resource
    kind, ident = resource.get("resourceType"), resource.get("id")
    if isinstance(kind, str) and isinstance(ident, str) and f"{kind}/{ident}" in selections:
        return True
    return entry.full_url is not None and entry.full_url in selections


def _patient_aliases(payloads: Iterable[Any], patient_id: str) -> frozenset[str]:
    """fullUrls under which the context Patient appears (for urn:uuid subject references)."""
    aliases = set()
    for payload in payloads:
        for entry in entries(payload):
            resource = entry.resource
            is_patient = resource.get("resourceType") == "Patient" and resource.get("id") == patient_id
            if is_patient and entry.full_url:
                aliases.add(entry.full_url)
    return frozenset(aliases)


def _orderable(entry: Entry, subject: SubjectCheck) -> bool:
    resource = entry.resource
    if resource.get("resourceType") != "MedicationRequest":
        return False
    # A draft order without a usable subject, or for someone else, is not judged: silence beats a guess.
    return text(resource, "status") in _ORDERABLE and subject.verdict(resource) is None


def _test_loincs(items: Iterable[Entry], subject: SubjectCheck) -> frozenset[str]:
    found = set()
    for entry in items:
        resource = entry.resource
        if resource.get("resourceType") != "ServiceRequest" or subject.verdict(resource) is not None:
            continue
        if resource.get("status") in {"entered-in-error", "revoked", "completed"}:
            continue
        found.update(code for system, code, _ in codings(obj(resource, "code")) if system == _LOINC)
    return frozenset(found)


def _classified(
    items: Sequence[Entry],
    index: Mapping[str, dict[str, Any]],
    knowledge: Knowledge,
    subject: SubjectCheck,
) -> tuple[MedicationUse, ...]:
    uses = read_medications(items, index, knowledge, subject)
    return tuple(replace(use, state=ORDERED) for use in uses)


def read_draft_orders(
    draft_orders: Any,
    selections: Sequence[str] | None,
    patient_id: str,
    knowledge: Knowledge,
    chart: Mapping[str, Any] | None = None,
) -> DraftOrders:
    """The patient's medication orders in a draftOrders Bundle; never raises on malformed input.

    `selections` None means every order is judged (order-sign); otherwise only the orders it
    names, by "MedicationRequest/<id>" or by the entry's fullUrl.
    """
    chart = chart if isinstance(chart, Mapping) else {}
    items = list(entries(draft_orders)) if _is_bundle(draft_orders) else []
    subject = SubjectCheck(patient_id, _patient_aliases([draft_orders, *chart.values()], patient_id))
    index = medication_index([*chart.values(), draft_orders])
    orders = [e for e in items if _orderable(e, subject)]
    wanted = frozenset(s for s in selections or () if isinstance(s, str))
    if selections is None:
        judged, context = orders, []
    else:
        judged = [e for e in orders if _is_selected(e, wanted)]
        context = [e for e in orders if not _is_selected(e, wanted)]
    return DraftOrders(
        judged=_classified(judged, index, knowledge, subject),
        context=_classified(context, index, knowledge, subject),
        test_loincs=_test_loincs(items, subject),
    )


def _is_bundle(payload: Any) -> bool:
    # Bundle.type is optional here: some clients send draftOrders without it.
    return (
        isinstance(payload, dict) and payload.get("resourceType") == "Bundle" and bool(arr(payload, "entry"))
    )
