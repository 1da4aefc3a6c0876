"""The services through the Flask test client: each fixture to its service, valid cards out."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.http.app import create_app
from cds.tools.fixtures import is_fixture_file
from tests.cards.card_helpers import assert_valid_response, empty_values

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURES = sorted(p for p in FIXTURE_DIR.glob("*.json") if is_fixture_file(p))
ORDER = {"critical": 0, "warning": 1, "info": 2}


def _client_at(now: str) -> FlaskClient:
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    settings = load_settings(environ={}, database_url="sqlite://")
    return create_app(settings, clock=lambda: moment).test_client()


def _call(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    fixture = json.loads((FIXTURES[0].parent / name).read_text("utf-8"))
    service = fixture["service"]  # order scenarios go to the order services
    response = _client_at(fixture["now"]).post(f"/cds-services/{service}", json=fixture["request"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return fixture, response.json


def _topics(body: dict[str, Any]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in body["cards"]]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_fixture_gives_valid_ordered_cards(path: Path) -> None:
    _, body = _call(path.name)
    assert_valid_response(body)
    assert empty_values(body) == []
    ranks = [ORDER[c["indicator"]] for c in body["cards"]]
    assert ranks == sorted(ranks)


def test_b12_deficiency_on_metformin_offers_three_treatments() -> None:
    fixture, body = _call("b12-deficiency-metformin-older-adult.json")
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "b12-deficiency"][:1]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Vitamin B12 deficiency") and "148" in card["summary"]
    assert card["selectionBehavior"] == "at-most-one"
    routes = [
        s["actions"][0]["resource"]["dosageInstruction"][0]["route"]["coding"][0]["code"]
        for s in card["suggestions"]
    ]
    assert routes == ["26643006", "37839007", "78421000"]
    patient = fixture["request"]["context"]["patientId"]
    assert all(
        s["actions"][0]["resource"]["subject"] == {"reference": f"Patient/{patient}"}
        for s in card["suggestions"]
    )
    assert "etformin" in card["detail"]
    assert card["source"]["url"] == "http://localhost/docs/topics/b12-deficiency"


def test_same_call_gives_same_uuids_and_another_hook_instance_does_not() -> None:
    fixture = json.loads(
        (FIXTURES[0].parent / "b12-deficiency-metformin-older-adult.json").read_text("utf-8")
    )
    client = _client_at(fixture["now"])
    first = client.post("/cds-services/deficiency-screen", json=fixture["request"]).json
    again = client.post("/cds-services/deficiency-screen", json=fixture["request"]).json
    other_request = {**fixture["request"], "hookInstance": "9b0f2a4c-6d8e-4f1a-b3c5-d7e9f1a3b5c7"}
    other = client.post("/cds-services/deficiency-screen", json=other_request).json
    assert first["cards"] and first == again
    assert {c["uuid"] for c in first["cards"]}.isdisjoint(c["uuid"] for c in other["cards"])


def test_patient_on_b12_is_never_offered_a_new_course() -> None:
    for name in ("b12-treatment-monitoring-oral.json", "b12-treatment-monitoring-text-only-injection.json"):
        _, body = _call(name)
        assert not [
            s
            for c in body["cards"]
            for s in c.get("suggestions", ())
            if s["actions"][0]["resource"]["resourceType"] == "MedicationRequest"
        ], name


def test_entered_in_error_result_does_not_make_a_deficiency_card() -> None:
    _, body = _call("entered-in-error-low-b12.json")
    assert "b12-deficiency" not in _topics(body)


def test_empty_chart_answers_with_cards_list() -> None:
    _, body = _call("empty-chart.json")
    assert isinstance(body["cards"], list)
    assert_valid_response(body)


@pytest.mark.parametrize(
    ("name", "recommended_route"),
    [
        ("b12-deficiency-pmol-pernicious-anaemia.json", "78421000"),  # malabsorption: injections
        ("b12-deficiency-metformin-older-adult.json", "26643006"),  # no malabsorption or neuro signs: oral
    ],
)
def test_recommended_treatment_follows_the_chart(name: str, recommended_route: str) -> None:
    _, body = _call(name)
    [card] = [c for c in body["cards"] if c.get("selectionBehavior") == "at-most-one"]
    flagged = [s for s in card["suggestions"] if s.get("isRecommended")]
    assert len(flagged) == 1
    route = flagged[0]["actions"][0]["resource"]["dosageInstruction"][0]["route"]["coding"][0]["code"]
    assert route == recommended_route


def test_docs_index_lists_every_topic(client: FlaskClient) -> None:
    page = client.get("/docs").get_data(as_text=True)
    for code in ("b12-deficiency", "hypocalcemia", "twitching-red-flags"):
        assert f"/docs/topics/{code}" in page
