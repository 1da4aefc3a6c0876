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
    "potassium": [2.4, 3.0, 3.4, 4.5, 5.8, 7.0],
    "sodium": [118, 128, 134, 140, 150, 165],
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


# Limits a value must stay within to be used (canonical unit), per the knowledge data.
PLAUSIBLE = KNOWLEDGE.plausible_limits


@st.composite
def unusable_observations(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """A recent result of this patient that cannot be used: no number, a reason its value is
    absent, an unknown unit, or a value outside physiological limits (zero included)."""
    analyte = draw(st.sampled_from(sorted(VALUES)))
    lab = KNOWLEDGE.labs[analyte]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"bad{index:03d}z",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": draw(st.sampled_from(lab.loincs))}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": (NOW - timedelta(days=draw(st.sampled_from([0, 5, 40])))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
    }
    limits = PLAUSIBLE[analyte]
    implausible = [0.0]
    implausible += [limits.low / 2] if limits.low else []
    implausible += [limits.high * 3] if limits.high else []
    shape = draw(st.sampled_from(["text", "absent", "unit", "implausible", "implausible"]))
    if shape == "text":
        resource["valueString"] = draw(st.sampled_from(["<150", "see comment", "haemolysed", ">2000"]))
    elif shape == "absent":
        reason = draw(st.sampled_from(["error", "not-performed"]))
        resource["dataAbsentReason"] = {"coding": [{"code": reason}]}
    elif shape == "unit":
        resource["valueQuantity"] = {"value": draw(st.sampled_from(VALUES[analyte])), "unit": "mg/L"}
    else:
        unit = draw(st.sampled_from(sorted(lab.factors)))
        value = draw(st.sampled_from(implausible)) / lab.factors[unit]
        resource["valueQuantity"] = {"value": value, "unit": unit}
    return resource


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
    # Ended "active" therapy: end dates in the past (history), the future, or disagreeing.
    end = draw(st.sampled_from([None, None, "2023-05-01", "2026-09-30", "2027-06-01"]))
    bounds_end = draw(st.sampled_from([None, None, "2022-01-01", "2027-01-01"]))
    if end:
        if kind == "MedicationRequest":
            resource["dispenseRequest"] = {"validityPeriod": {"end": end}}
        else:
            resource["effectivePeriod"] = {"end": end}
    if bounds_end:
        field = "dosageInstruction" if kind == "MedicationRequest" else "dosage"
        resource[field] = [{"timing": {"repeat": {"boundsPeriod": {"end": bounds_end}}}}]
    return resource


def _end_dates(med: dict[str, Any]) -> list[str]:
    dosage = med.get("dosageInstruction") or med.get("dosage") or []
    candidates = [
        med.get("effectivePeriod", {}).get("end"),
        med.get("dispenseRequest", {}).get("validityPeriod", {}).get("end"),
        *(d["timing"]["repeat"]["boundsPeriod"]["end"] for d in dosage),
    ]
    return [c for c in candidates if c]


def _ended(med: dict[str, Any]) -> bool:
    ends = _end_dates(med)
    return bool(ends) and all(end < NOW.date().isoformat() for end in ends)


def _open(med: dict[str, Any]) -> bool:
    return all(end >= NOW.date().isoformat() for end in _end_dates(med))


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


def _conflicting_analytes(observations: list[dict[str, Any]]) -> set[str]:
    """Analytes with two results at the same instant on different sides of one of their
    cut-offs (any difference where the analyte has none)."""
    bands: dict[tuple[str, datetime], set[Any]] = {}
    for o in observations:
        for analyte, lab in KNOWLEDGE.labs.items():
            factor = lab.factors.get(str(o.get("valueQuantity", {}).get("unit")).lower())
            if o["code"]["coding"][0]["code"] in lab.loincs and factor is not None:
                value = o["valueQuantity"]["value"] * factor
                cuts = [KNOWLEDGE.cutoffs[key] for key in lab.decides]
                band = tuple((value > c) - (value < c) for c in cuts) if cuts else value
                when = datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00"))
                bands.setdefault((analyte, when), set()).add(band)
    return {analyte for (analyte, _when), found in bands.items() if len(found) > 1}


def _uncorrectable_calcium(observations: list[dict[str, Any]]) -> bool:
    """Whether the newest usable total calcium is older than the albumin pairing window and no
    albumin was taken within that window of it: an albumin alone cannot correct it, so the
    calcium is deliberately measured again with a fresh albumin (docs/guideline.md)."""
    pairing = timedelta(days=KNOWLEDGE.cutoffs["albumin_pairing_days"])

    def taken(o: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00"))

    def of(analyte: str) -> list[dict[str, Any]]:
        loincs = KNOWLEDGE.labs[analyte].loincs
        return [o for o in observations if o["code"]["coding"][0]["code"] in loincs]

    totals = of("calcium_total")
    if not totals:
        return False
    newest = max(taken(o) for o in totals)
    paired = any(abs(taken(a).date() - newest.date()) <= pairing for a in of("albumin"))
    return NOW.date() - newest.date() > pairing and not paired


def _mine(resource: dict[str, Any]) -> bool:
    return resource.get("subject", {}).get("reference") == f"Patient/{PATIENT}"


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
        and not _ended(m)  # an "active" record whose dates have all passed is history
        and (_mine(m) or "subject" not in m)
        for m in chart["medications"]
    )
    if taking_b12:
        assert not [a for a in _actions(cards) if a.get("resourceType") == "MedicationRequest"]

    # Ended "active" B12 is never taken for current therapy: without a B12 record that is
    # current by status and open by every date, no card reviews "the B12 the patient takes".
    current_b12 = any(
        m["medicationCodeableConcept"]["coding"][0]["code"] in b12_codes
        and m["status"] in {"active", "intended", "on-hold"}
        and _mine(m)
        and _open(m)
        for m in chart["medications"]
    )
    if not current_b12:
        assert not [c for c in cards if "On B12 therapy" in c["summary"]]

    # No test ordered again when a final result of it from the last month (an albumin: from
    # the pairing window, as only a recent albumin can correct a new calcium) is on the chart,
    # unless results of it taken at the same instant disagree across a cut-off (then neither
    # counts and the repeat is the right advice), or it is a total calcium no albumin can
    # correct any more (then calcium and albumin are measured together).
    def fresh_days(lab: Any) -> float:
        return min(30, KNOWLEDGE.cutoffs[lab.recent_window]) if lab.recent_window else 30

    fresh = [
        o
        for o in chart["observations"]
        if _mine(o) and o["status"] == "final" and o["valueQuantity"]["unit"] != "mg/L"
    ]
    usable = {"final", "amended", "corrected", "preliminary"}
    usable_mine = [
        o
        for o in chart["observations"]
        if _mine(o) and o.get("status") in usable and o.get("valueQuantity", {}).get("unit") != "mg/L"
    ]
    conflicting = _conflicting_analytes(usable_mine)
    if _uncorrectable_calcium(usable_mine):
        conflicting.add("calcium_total")
    fresh_loincs = {
        code
        for o in fresh
        for analyte, lab in KNOWLEDGE.labs.items()
        if o["code"]["coding"][0]["code"] in lab.loincs
        and analyte not in conflicting
        and NOW - datetime.fromisoformat(o["effectiveDateTime"].replace("Z", "+00:00"))
        <= timedelta(days=fresh_days(lab))
        for code in lab.loincs
    }
    ordered = {
        coding["code"]
        for a in _actions(cards)
        if a.get("resourceType") == "ServiceRequest"
        for coding in a.get("code", {}).get("coding", [])
    }
    assert not ordered & fresh_loincs, f"ordered again: {ordered & fresh_loincs}"


_JUDGED_RESULTS = {
    "b12-deficiency",
    "b12-indeterminate",
    "b12-elevated",
    "hypomagnesemia",
    "hypocalcemia",
    "electrolyte-imbalance",
}


def _judgements(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """What the cards conclude from results: topic, urgency and summary of each judged card."""
    return sorted(
        (c["source"]["topic"]["code"], c["indicator"], c["summary"])
        for c in result["cards"]
        if c["source"]["topic"]["code"] in _JUDGED_RESULTS
    )


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chart=charts(),
    bad=st.lists(st.integers(0, 999), max_size=3, unique=True).flatmap(
        lambda ids: st.tuples(*(unusable_observations(i) for i in ids))
    ),
)
def test_unusable_and_implausible_results_never_change_a_finding(
    chart: dict[str, list[dict[str, Any]]], bad: tuple[dict[str, Any], ...]
) -> None:
    """Adding results that cannot be read changes no judged card; each is named or superseded."""
    with_bad = {**chart, "observations": [*chart["observations"], *bad]}
    before = _call(chart)
    after = _call(with_bad)
    assert _judgements(after) == _judgements(before)
    shown = json.dumps(after)
    for resource in bad:
        loinc = resource["code"]["coding"][0]["code"]
        analyte = KNOWLEDGE.loinc_to_analyte[loinc]
        if any(
            o["code"]["coding"][0]["code"] in KNOWLEDGE.labs[analyte].loincs for o in chart["observations"]
        ):
            continue  # another result of the same test may be the one that counts
        assert resource["id"] in shown, f"{resource['id']} is set aside without a word"


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


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
