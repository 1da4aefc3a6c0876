"""Safety rules that hold for any chart, checked on generated charts through the whole service.

The fixtures pin down what the cards say for chosen patients; these properties say what
must never happen for any patient: data that must be ignored shows up on a card, B12 is
offered to a patient who already takes it, a test with a fresh result is ordered again,
or a response breaks the protocol.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.config import load_settings
from cds.http.app import create_app
from cds.knowledge import load_knowledge
from cds.schemas import validator_for

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PATIENT = "p1"
KNOWLEDGE = load_knowledge()
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"

# Canonical values around each analyte's cut-offs (low, borderline, normal, high).
VALUES = {
    "b12_total": [60, 150, 180, 250, 400, 900],
    "holotc": [10, 30, 50, 100],
    "mma": [0.1, 0.3, 0.5, 1.2],
    "homocysteine": [5, 12, 16, 40],
    "calcium_total": [1.6, 1.9, 2.1, 2.4],
    "calcium_ionized": [0.8, 1.0, 1.2],
    "calcium_corrected": [1.8, 2.1, 2.4],
    "albumin": [22, 30, 40],
    "magnesium": [0.35, 0.6, 0.8, 1.0],
    "potassium": [2.4, 3.0, 3.4, 4.5],
    "sodium": [118, 128, 134, 140],
}
USED_STATUSES = ["final", "amended", "corrected", "preliminary"]
IGNORED_STATUSES = ["entered-in-error", "cancelled"]
MED_CLASSES = [
    *("b12-therapy", "b12-therapy", "metformin", "ppi"),
    *("h2-blocker", "loop-diuretic", "systemic-corticosteroid"),
]
MED_STATUSES = {
    "MedicationStatement": ["active", "intended", "on-hold", "completed", "stopped", "entered-in-error"],
    "MedicationRequest": ["active", "on-hold", "completed", "stopped", "entered-in-error", "cancelled"],
}
MED_STATUSES["MedicationStatement"].append("unknown")  # uncertain: never counts as taking, never as not
MED_STATUSES["MedicationRequest"].append("draft")
NOT_TAKING = {"completed", "stopped", "entered-in-error", "cancelled", "not-taken"}
SUBJECTS = ["this", "this", "this", "other", "missing"]


def _subject(who: str) -> dict[str, Any]:
    if who == "missing":
        return {}
    return {"subject": {"reference": f"Patient/{PATIENT if who == 'this' else 'someone-else'}"}}


@st.composite
def observations(draw: st.DrawFn, index: int) -> dict[str, Any]:
    analyte = draw(st.sampled_from([*sorted(VALUES), "b12_total", "b12_total", "magnesium"]))  # B12 most
    lab = KNOWLEDGE.labs[analyte]
    unit = draw(st.sampled_from([*lab.factors, "mg/L"]))  # the last is unknown for every analyte
    factor = lab.factors.get(unit.lower(), 1.0)
    value = round(draw(st.sampled_from(VALUES[analyte])) / factor, 2)
    days_ago = draw(st.sampled_from([0, 3, 20, 120, 300, 500, 900]))
    return {
        "resourceType": "Observation",
        "id": f"obs{index:03d}z",
        "status": draw(st.sampled_from(USED_STATUSES + IGNORED_STATUSES + ["registered"])),
        "code": {"coding": [{"system": LOINC, "code": draw(st.sampled_from(lab.loincs))}]},
        **_subject(draw(st.sampled_from(SUBJECTS))),
        "effectiveDateTime": (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "valueQuantity": {"value": value, "unit": unit},
    }


@st.composite
def medications(draw: st.DrawFn, index: int) -> dict[str, Any]:
    class_key = draw(st.sampled_from(MED_CLASSES))
    kind = draw(st.sampled_from(sorted(MED_STATUSES)))
    rxcui = draw(st.sampled_from(sorted(KNOWLEDGE.medication_classes[class_key].rxcuis)))
    resource = {
        "resourceType": kind,
        "id": f"med{index:03d}z",
        "status": draw(st.sampled_from(MED_STATUSES[kind])),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        **_subject(draw(st.sampled_from(SUBJECTS))),
    }
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    return resource


@st.composite
def conditions(draw: st.DrawFn, index: int) -> dict[str, Any]:
    members = [m for vs in KNOWLEDGE.value_sets.values() for m in vs.members if m.snomed]
    member = draw(st.sampled_from(members))
    return {
        "resourceType": "Condition",
        "id": f"cond{index:03d}z",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": draw(st.sampled_from(["active", "active", "resolved"])),
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": sorted(member.snomed)[0]}]},
        **_subject(draw(st.sampled_from(SUBJECTS))),
    }


@st.composite
def charts(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    count = draw(st.integers(0, 10))
    return {
        "observations": [draw(observations(i)) for i in range(count)],
        "medications": [draw(medications(i)) for i in range(draw(st.integers(0, 4)))],
        "conditions": [draw(conditions(i)) for i in range(draw(st.integers(0, 3)))],
    }


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _call(
    chart: dict[str, list[dict[str, Any]]],
    service: str = "deficiency-screen",
    hook: str = "patient-view",
    **context: Any,
) -> dict[str, Any]:
    """The service's valid response to this chart, sent as the EHR's prefetch."""
    meds = chart["medications"]
    body = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": PATIENT, **context},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": PATIENT, "birthDate": "1958-03-01"},
            "observations": _bundle(chart["observations"]),
            "medicationStatements": _bundle([m for m in meds if m["resourceType"] == "MedicationStatement"]),
            "medicationRequests": _bundle([m for m in meds if m["resourceType"] == "MedicationRequest"]),
            "conditions": _bundle(chart["conditions"]),
        },
    }
    response = CLIENT.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    result = response.get_json()
    errors = sorted(validator_for("response").iter_errors(result), key=str)
    assert not errors, errors[0].message
    return result


CLIENT = create_app(load_settings(environ={}, database_url="sqlite://"), clock=lambda: NOW).test_client()


def _actions(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        action.get("resource", {})
        for card in cards
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
    ]


def _mine(resource: dict[str, Any]) -> bool:
    return resource.get("subject", {}).get("reference") == f"Patient/{PATIENT}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chart=charts())
def test_no_generated_chart_breaks_a_safety_rule(chart: dict[str, list[dict[str, Any]]]) -> None:
    result = _call(chart)
    cards = result["cards"]
    assert len({c["uuid"] for c in cards}) == len(cards)
    assert all(len(c["summary"]) < 140 for c in cards)

    # Entered-in-error results and other patients' records never appear anywhere.
    shown = json.dumps(result)
    everything = (*chart["observations"], *chart["medications"], *chart["conditions"])
    hidden = [
        r["id"]
        for r in everything
        if r.get("status") in IGNORED_STATUSES
        or r.get("subject", {}).get("reference") == "Patient/someone-else"
    ]
    for ident in hidden:
        assert ident not in shown, f"{ident} is on a card"

    # No B12 offered to a patient with a B12 record that is not over (or may not be).
    b12_codes = KNOWLEDGE.medication_classes["b12-therapy"].rxcuis
    taking_b12 = any(
        m["medicationCodeableConcept"]["coding"][0]["code"] in b12_codes
        and m["status"] not in NOT_TAKING
        and (_mine(m) or "subject" not in m)
        for m in chart["medications"]
    )
    if taking_b12:
        assert not [a for a in _actions(cards) if a.get("resourceType") == "MedicationRequest"]

    # No test ordered again when a final result of it from the last month is on the chart.
    fresh_loincs = {
        code
        for o in chart["observations"]
        if _mine(o) and o["status"] == "final" and o["valueQuantity"]["unit"] != "mg/L"
        and NOW - datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00")) <= timedelta(days=30)
        for analyte, lab in KNOWLEDGE.labs.items()
        if o["code"]["coding"][0]["code"] in lab.loincs
        for code in lab.loincs
    }
    ordered = {
        coding["code"]
        for a in _actions(cards)
        if a.get("resourceType") == "ServiceRequest"
        for coding in a.get("code", {}).get("coding", [])
    }
    assert not ordered & fresh_loincs, f"ordered again: {ordered & fresh_loincs}"


def _topics(observations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    cards = _call({"observations": observations, "medications": [], "conditions": []})["cards"]
    return sorted((c["source"]["topic"]["code"], c["indicator"]) for c in cards)


def _clear_of_cutoffs(analyte: str, value: float) -> bool:
    unit = KNOWLEDGE.labs[analyte].unit
    return all(
        abs(value - info.value) > 0.05 * info.value
        for info in KNOWLEDGE.cutoff_info.values()
        if info.unit == unit
    )


def test_the_same_result_in_any_known_unit_gives_the_same_cards() -> None:
    """Unit conversion is exact: a result means the same in every spelling the lab accepts."""
    compared = 0
    for analyte, values in VALUES.items():
        lab = KNOWLEDGE.labs[analyte]
        for value in (v for v in values if _clear_of_cutoffs(analyte, v)):
            outcomes = {}
            for unit, factor in lab.factors.items():
                observation = {
                    "resourceType": "Observation",
                    "id": "obs001z",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": lab.loincs[0]}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                    "effectiveDateTime": "2026-10-20T08:00:00Z",
                    "valueQuantity": {"value": round(value / factor, 3), "unit": unit},
                }
                outcomes[unit] = _topics([observation])
            assert len({json.dumps(o) for o in outcomes.values()}) == 1, (analyte, value, outcomes)
            compared += 1
    assert compared > 20  # the loop really compared something


@st.composite
def draft_orders(draw: st.DrawFn) -> list[dict[str, Any]]:
    orders = []
    for index in range(draw(st.integers(0, 4))):
        class_key = draw(st.sampled_from(["b12-therapy", "b12-therapy", "folic-acid", "metformin", "ppi"]))
        rxcui = draw(st.sampled_from(sorted(KNOWLEDGE.medication_classes[class_key].rxcuis)))
        orders.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"draft{index:03d}z",
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
                **_subject(draw(st.sampled_from(["this", "this", "other"]))),
            }
        )
    return orders


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chart=charts(), drafts=draft_orders())
def test_order_signing_never_breaks_a_safety_rule(
    chart: dict[str, list[dict[str, Any]]], drafts: list[dict[str, Any]]
) -> None:
    drafts_bundle = {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]}
    result = _call(chart, "deficiency-order-sign", "order-sign", draftOrders=drafts_bundle)
    shown = json.dumps(result)
    for draft in drafts:
        if not _mine(draft):
            assert draft["id"] not in shown, f"another patient's draft {draft['id']} is on a card"
    mine = {f"MedicationRequest/{d['id']}" for d in drafts if _mine(d)}
    for card in result["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                if action["type"] == "delete":
                    assert action["resourceId"] in mine  # only this patient's own draft orders
