"""Draft orders: the medication and test orders being placed now, read apart from the chart's.

Only MedicationRequests count as medication orders (a MedicationStatement is not an order);
they are read with the chart's medication reader and get the state "ordered". For
order-select, the selected orders are judged and the other draft orders only give context (a
B12 order already drafted, a diuretic drafted earlier in the same session). Test orders
(ServiceRequests) say which tests are already being ordered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cds.knowledge import Knowledge
from cds.reader.codes import LOINC, SubjectCheck, codings
from cds.reader.facts import DraftOrders, MedicationRecord
from cds.reader.fhir import Decoded, Entry, Resource
from cds.reader.medications import read_medication

# Statuses of an order still being placed; anything else (completed, stopped, cancelled...) is not.
_ORDERABLE = frozenset({"draft", "active"})
_NOT_A_TEST_ORDER = frozenset({"entered-in-error", "revoked", "completed"})


def _names(entry: Entry) -> set[str]:
    resource = entry.resource
    found = set()
    if resource is not None and resource.id:
        found.add(resource.ref)
    if entry.fullUrl:
        found.add(entry.fullUrl)
    return found


def _orderable(resource: Resource, subject: SubjectCheck) -> bool:
    # A draft order without a usable subject, or for someone else, is not judged: silence beats a guess.
    return resource.status in _ORDERABLE and subject.verdict(resource) is None


def _test_loincs(resource: Resource, subject: SubjectCheck) -> set[str]:
    if resource.status in _NOT_A_TEST_ORDER or subject.verdict(resource) is not None:
        return set()
    return {code for system, code, _ in codings(resource.code) if system == LOINC}


def read_draft_orders(
    decoded: Decoded,
    selections: Sequence[str] | None,
    knowledge: Knowledge,
    subject: SubjectCheck,
    medications: Mapping[str, Resource],
    now: datetime,
) -> DraftOrders:
    """The patient's orders in a draftOrders Bundle. `selections` None judges every order
    (order-sign); otherwise only those it names, by "MedicationRequest/<id>" or fullUrl."""
    bundle = decoded.resource
    if bundle is None or bundle.resourceType != "Bundle":
        found = bundle.resourceType if bundle is not None else None
        problem = decoded.problem or (f"it is a {found[:40]}" if found else "it is not a FHIR resource")
        return DraftOrders((), (), frozenset(), problem=problem)
    wanted = frozenset(selections or ())
    known: set[str] = set()
    judged: list[MedicationRecord] = []
    context: list[MedicationRecord] = []
    tests: set[str] = set()
    for entry in bundle.entry:
        names = _names(entry)
        known |= names
        resource = entry.resource
        if resource is None:
            continue
        if resource.resourceType == "ServiceRequest":
            tests |= _test_loincs(resource, subject)
        elif resource.resourceType == "MedicationRequest" and _orderable(resource, subject):
            record = read_medication(resource, medications, knowledge, subject, now, ordered=True)
            if record is not None and record.classes:
                selected = selections is None or bool(names & wanted)
                (judged if selected else context).append(record)
    for item in decoded.unreadable:  # an entry that could not be read is still one the EHR sent
        known |= {name for name in (item.ref if item.ident else None, item.full_url) if name}
    unknown = tuple((i, s) for i, s in enumerate(selections or ()) if s not in known)
    return DraftOrders(tuple(judged), tuple(context), frozenset(tests), unknown)
