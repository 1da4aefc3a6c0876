"""Through the real services: which keys came, and how far back their pages reach, decide
whether a test is asked for because a recent result is missing, per family of results.

One chart for every row: a 70-year-old on metformin, long-term omeprazole and furosemide with
no B12 and no magnesium result. With the whole lists, the B12 test (metformin) and the
magnesium test (PPI with a diuretic) are both asked for; a list that may hide a recent result
silences its own family's test only.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.http.app import create_app

NOW = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)  # the look-back window opens on 2025-10-15
PID = "p-keys"
B12_TEST = "b12-testing-recommended"
MAGNESIUM_TEST = "magnesium-testing-recommended"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _result(ident: str, loinc: str, value: float, unit: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit},
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def _first_page(*resources: dict[str, Any]) -> dict[str, Any]:
    return {**_bundle(*resources), "link": [{"relation": "next", "url": "https://ehr.example/fhir/p2"}]}


def _medication(ident: str, rxnorm: str, start: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm}]},
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": start,
    }


EMPTY = _bundle()
# Potassium newest first: one page stopping inside the window, one reaching back past it.
SHORT = _first_page(
    _result("k1", "2823-3", 4.2, "mmol/L", "2026-10-14T08:00:00Z"),
    _result("k2", "2823-3", 4.0, "mmol/L", "2026-03-01T08:00:00Z"),
)
LONG = _first_page(
    _result("k1", "2823-3", 4.2, "mmol/L", "2026-10-14T08:00:00Z"),
    _result("k3", "2823-3", 4.1, "mmol/L", "2025-10-13T08:00:00Z"),  # 2 days before the window
)
# B12-family results that do not answer "is there a recent B12": homocysteine only.
B12_SHORT = _first_page(_result("h1", "13965-9", 11, "umol/L", "2026-09-01T08:00:00Z"))
B12_LONG = _first_page(
    _result("h1", "13965-9", 11, "umol/L", "2026-09-01T08:00:00Z"),
    _result("h2", "13965-9", 12, "umol/L", "2024-02-01T08:00:00Z"),
)

BOTH = {B12_TEST, MAGNESIUM_TEST}


def split(b12: dict[str, Any], chemistry: dict[str, Any]) -> dict[str, Any]:
    return {"b12Observations": b12, "chemistryObservations": chemistry}


ROWS: list[tuple[str, dict[str, Any], set[str]]] = [
    # (case, the result keys as sent, the testing topics expected)
    ("both keys whole", split(EMPTY, EMPTY), BOTH),
    ("chemistry page short of the window", split(EMPTY, SHORT), {B12_TEST}),
    ("chemistry page reaching back", split(EMPTY, LONG), BOTH),
    ("B12 page short of the window", split(B12_SHORT, EMPTY), {MAGNESIUM_TEST}),
    ("B12 page reaching back", split(B12_LONG, EMPTY), BOTH),
    ("both pages short", split(B12_SHORT, SHORT), set()),
    ("the former single key, whole", {"observations": EMPTY}, {B12_TEST, MAGNESIUM_TEST}),
    ("the former single key, short page", {"observations": SHORT}, set()),
    ("the former single key, reaching back", {"observations": LONG}, {B12_TEST, MAGNESIUM_TEST}),
    (
        "former key short beside whole current keys",
        {"observations": SHORT, "b12Observations": EMPTY, "chemistryObservations": EMPTY},
        BOTH,
    ),
    (
        "former key and chemistry both short",
        {"observations": SHORT, "b12Observations": EMPTY, "chemistryObservations": SHORT},
        {B12_TEST},
    ),
]
IDS = [row[0] for row in ROWS]


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    settings = load_settings(environ={}, database_url="sqlite://")
    return create_app(settings, clock=lambda: NOW).test_client()


def _call(hook: str, results: dict[str, Any], medications: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": "7d3b1c52-95a4-4f0e-8c61-0b2f6f3e9a10",
        "context": {"userId": "Practitioner/dr1", "patientId": PID},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": PID, "birthDate": "1956-04-02"},
            **copy.deepcopy(results),
            "medicationStatements": EMPTY,
            "medicationRequests": _bundle(*medications),
            "conditions": EMPTY,
        },
    }


def _testing_topics(response: Any) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {c["source"]["topic"]["code"] for c in response.get_json()["cards"]} & {B12_TEST, MAGNESIUM_TEST}


CHART_MEDICATIONS = [
    _medication("m-metformin", "6809", "2017-09-18"),
    _medication("m-omeprazole", "7646", "2018-03-12"),
    _medication("m-furosemide", "4603", "2021-01-15"),
]


@pytest.mark.parametrize(("case", "results", "expected"), ROWS, ids=IDS)
def test_patient_view_asks_for_a_test_only_when_its_familys_list_is_known(
    client: FlaskClient, case: str, results: dict[str, Any], expected: set[str]
) -> None:
    body = _call("patient-view", results, CHART_MEDICATIONS)
    assert _testing_topics(client.post("/cds-services/deficiency-screen", json=body)) == expected


@pytest.mark.parametrize("service", ["deficiency-order-select", "deficiency-order-sign"])
@pytest.mark.parametrize(("case", "results", "expected"), ROWS, ids=IDS)
def test_order_services_decide_by_the_same_rule(
    client: FlaskClient, service: str, case: str, results: dict[str, Any], expected: set[str]
) -> None:
    """Metformin and omeprazole being ordered, furosemide on the chart."""
    furosemide = _medication("m-furosemide", "4603", "2021-01-15")
    body = _call(service.removeprefix("deficiency-"), results, [furosemide])
    drafts = [
        _medication("d-metformin", "6809", "2026-10-15", status="draft"),
        _medication("d-omeprazole", "7646", "2026-10-15", status="draft"),
    ]
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": d} for d in drafts],
    }
    if service == "deficiency-order-select":
        body["context"]["selections"] = [f"MedicationRequest/{d['id']}" for d in drafts]
    assert _testing_topics(client.post(f"/cds-services/{service}", json=body)) == expected
