"""POST /app/api/chart reads a chart with the hooks' own engine: the series are its usable
results, set-aside results carry its reasons, therapy comes from its medication reading, the
corrected calcium is its correction, the findings are the hook's cards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.server.wsgi import build_app
from cds.tools.fixtures import Fixture, fixture_paths, load_fixture

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
PATIENT_VIEW = [
    f
    for f in (load_fixture(p) for p in fixture_paths([ROOT / "fixtures"]))
    if f.service == "deficiency-screen"
]


def client_for(fixture: Fixture, **settings: Any) -> FlaskClient:
    values = {
        "database_url": "sqlite://",
        "smart_client_id": "myelin-companion",
        "log_level": "WARNING",
        **settings,
    }
    return build_app(load_settings(environ={}, **values), clock=lambda: fixture.now).test_client()


def chart_of(fixture: Fixture, **settings: Any) -> dict[str, Any]:
    body = {"patientId": fixture.request["context"]["patientId"], "resources": fixture.request["prefetch"]}
    response = client_for(fixture, **settings).post("/app/api/chart", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()


def series(chart: dict[str, Any], analyte: str) -> dict[str, Any]:
    return next(s for p in chart["panels"] for s in p["series"] if s["analyte"] == analyte)


def panel(chart: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in chart["panels"] if p["key"] == key)


HISTORY = load_fixture(DATA / "b12-treatment-response-history.json")
BY_NAME = {f.name: f for f in PATIENT_VIEW}


def test_every_result_is_a_point_in_the_site_unit_oldest_first() -> None:
    chart = chart_of(HISTORY)
    b12 = series(chart, "b12_total")
    assert [(p["reference"], p["value"]) for p in b12["points"]] == [
        ("Observation/obs-pt-3001-1", 265.0),
        ("Observation/obs-pt-3001-2", 142.0),
        ("Observation/obs-pt-3001-6", 610.0),
        ("Observation/obs-pt-3001-7", 322.49),  # 238 pmol/L x 1.355
        ("Observation/obs-pt-3001-8", 168.0),
        ("Observation/obs-pt-3001-10", 305.0),
    ]
    molar = b12["points"][3]
    assert (molar["reported"], molar["reportedValue"], molar["reportedUnit"], molar["shown"]) == (
        "238 pmol/L",
        238.0,
        "pmol/L",
        "322 ng/L",
    )
    assert (molar["day"], molar["ago"], molar["recent"]) == ("2025-09-30", "1 year ago", False)
    mma = series(chart, "mma")["points"]
    assert [(p["reported"], p["value"], p["unit"]) for p in mma] == [
        ("520 nmol/L", 0.52, "umol/L"),
        ("0.41 umol/L", 0.41, "umol/L"),
    ]
    assert [p["status"] for p in series(chart, "holotc")["points"]] == ["final", "preliminary"]
    assert [c["value"] for c in b12["cutoffs"]] == [180, 350, 1000]
    assert chart["today"] == "2026-10-15" and chart["windowStart"] == "2025-10-15"


def test_b12_therapy_periods_are_bands_and_other_medicines_lanes() -> None:
    b12 = panel(chart_of(HISTORY), "b12")
    bands = [
        (b["reference"], b["start"], b["end"], b["drawnEnd"], b["state"], b["ongoing"]) for b in b12["bands"]
    ]
    assert bands == [
        ("MedicationStatement/ms-pt-3001-1", "2024-12-02", "2025-06-30", "2025-06-30", "past", False),
        ("MedicationRequest/mr-pt-3001-2", "2026-06-24", None, "2026-10-15", "current", True),
    ]
    lanes = {m["reference"]: m["medicineClass"] for m in b12["medicines"]}
    assert lanes == {
        "MedicationStatement/ms-pt-3001-1": "b12-therapy",
        "MedicationRequest/mr-pt-3001-2": "b12-therapy",
        "MedicationRequest/mr-pt-3001-3": "metformin",
    }


def test_a_ppi_and_a_diuretic_are_lanes_of_the_chemistry_panel() -> None:
    chart = chart_of(BY_NAME["hypomagnesemia-ppi-furosemide"])
    chemistry = panel(chart, "chemistry")
    assert {m["medicineClass"] for m in chemistry["medicines"]} == {"ppi", "loop-diuretic"}
    assert chemistry["bands"] == []
    magnesium = series(chart, "magnesium")["points"]
    assert [(p["reported"], p["shown"]) for p in magnesium] == [("1.3 mg/dL", "0.53 mmol/L")]


def test_results_set_aside_are_listed_with_the_engine_s_reason_and_never_drawn() -> None:
    chart = chart_of(BY_NAME["unknown-unit-b12-metformin"])
    assert series(chart, "b12_total")["points"] == []
    [item] = chart["setAside"]
    assert item["analyte"] == "b12_total" and item["panel"] == "b12"
    assert item["item"] == "Observation/obs-pt-1036-1 (Vitamin B12)"
    assert item["reason"] == "unit 'mcg/dL' not recognised for Vitamin B12"
    assert chart["hasResults"] is True  # a set-aside result is worth showing

    conflicting = chart_of(BY_NAME["b12-conflicting-same-time"])
    assert {i["conflict"] for i in conflicting["setAside"]} == {True}
    assert series(conflicting, "b12_total")["points"] == []


def test_corrected_calcium_is_the_value_the_rule_judged() -> None:
    fixture = BY_NAME["hypocalcemia-corrected-mmol"]
    chart = chart_of(fixture)
    [point] = series(chart, "calcium_corrected")["points"]
    assert point["kind"] == "corrected"
    assert point["note"].startswith("corrected for albumin 42 g/L")
    # The hook's card quotes the same value, worked out by the same function.
    [finding] = [f for f in chart["findings"] if f["topic"] == "hypocalcemia"]
    assert point["shown"] in finding["summary"]
    # A site's reference albumin moves both together: one formula, one knowledge.
    moved = chart_of(fixture, cutoff_overrides={"albumin_reference": 44})
    assert series(moved, "calcium_corrected")["points"][0]["value"] == pytest.approx(point["value"] + 0.08)


def test_a_total_calcium_without_albumin_is_drawn_as_uncorrected() -> None:
    fixture = BY_NAME["hypocalcemia-corrected-mmol"]
    prefetch = {**fixture.request["prefetch"]}
    chemistry = prefetch["chemistryObservations"]
    prefetch["chemistryObservations"] = {
        **chemistry,
        "entry": [e for e in chemistry["entry"] if "1751-7" not in str(e["resource"].get("code"))],
    }
    body = {"patientId": fixture.request["context"]["patientId"], "resources": prefetch}
    chart = client_for(fixture).post("/app/api/chart", json=body).get_json()
    [point] = series(chart, "calcium_corrected")["points"]
    assert point["kind"] == "uncorrected"
    assert point["note"] == "total calcium, not corrected: no albumin within 7 days"


def test_a_correction_with_a_preliminary_albumin_is_preliminary_as_on_the_card() -> None:
    fixture = BY_NAME["hypocalcemia-corrected-mmol"]
    prefetch = {**fixture.request["prefetch"]}
    chemistry = prefetch["chemistryObservations"]
    entries = [
        {"resource": {**e["resource"], "status": "preliminary"}}
        if "1751-7" in str(e["resource"].get("code"))
        else e
        for e in chemistry["entry"]
    ]
    prefetch["chemistryObservations"] = {**chemistry, "entry": entries}
    body = {"patientId": fixture.request["context"]["patientId"], "resources": prefetch}
    chart = client_for(fixture).post("/app/api/chart", json=body).get_json()
    [point] = series(chart, "calcium_corrected")["points"]
    assert point["kind"] == "corrected"
    assert point["status"] == "preliminary"  # the total calcium itself is final


def test_cut_offs_are_the_site_s() -> None:
    chart = chart_of(HISTORY, cutoff_overrides={"b12_total_deficient": 200})
    assert [c["value"] for c in series(chart, "b12_total")["cutoffs"]] == [200, 350, 1000]


@pytest.mark.parametrize("fixture", PATIENT_VIEW, ids=[f.name for f in PATIENT_VIEW])
def test_the_findings_are_the_hook_s_cards(fixture: Fixture) -> None:
    client = client_for(fixture)
    hook = client.post("/cds-services/deficiency-screen", json=fixture.request).get_json()
    chart = chart_of(fixture)
    expected = [
        {
            "topic": c["source"]["topic"]["code"],
            "topicDisplay": c["source"]["topic"]["display"],
            "indicator": c["indicator"],
            "summary": c["summary"],
        }
        for c in hook["cards"]
    ]
    assert chart["findings"] == expected


def test_topics_the_site_turned_off_are_not_listed() -> None:
    fixture = BY_NAME["hypomagnesemia-ppi-furosemide"]
    assert [f["topic"] for f in chart_of(fixture)["findings"]] == ["hypomagnesemia"]
    assert chart_of(fixture, topic_modes={"hypomagnesemia": "off"})["findings"] == []


def test_what_the_app_could_not_read_is_said() -> None:
    fixture = BY_NAME["b12-treatment-monitoring-oral"]
    body = {
        "patientId": "pt-1014",
        "resources": {k: v for k, v in fixture.request["prefetch"].items() if k != "medicationStatements"},
        "unavailable": {"medicationStatements": "access to MedicationStatement records was not granted"},
    }
    chart = client_for(fixture).post("/app/api/chart", json=body).get_json()
    assert chart["unavailable"] == [
        {"key": "medicationStatements", "reason": "access to MedicationStatement records was not granted"}
    ]


def test_pairing_every_total_calcium_costs_a_bounded_number_of_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear in the chart: each total is offered a few albumins (one per nearby day), not all
    of them, however many results share its days."""
    from cds.companion import chart_view

    looked: list[int] = []
    real = chart_view.paired_albumin

    def counting(total: Any, albumins: Any, knowledge: Any) -> Any:
        offered = list(albumins)
        looked.append(len(offered))
        return real(total, offered, knowledge)

    monkeypatch.setattr(chart_view, "paired_albumin", counting)

    def result(n: int, code: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "resource": {
                "resourceType": "Observation",
                "id": f"{code}-{n}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": f"2026-09-{1 + n % 20:02d}T08:{n % 60:02d}:00Z",
                "valueQuantity": {"value": value, "unit": unit},
            }
        }

    entries = [result(n, "2000-8", 2.1, "mmol/L") for n in range(600)]
    entries += [result(n, "1751-7", 35, "g/L") for n in range(600)]
    body = {
        "patientId": "p1",
        "resources": {"observations": {"resourceType": "Bundle", "entry": entries}},
    }
    fixture = HISTORY
    chart = client_for(fixture).post("/app/api/chart", json=body).get_json()
    assert len(series(chart, "calcium_corrected")["points"]) > 0
    assert looked and max(looked) <= 17  # at most one albumin per day, 8 days either side
