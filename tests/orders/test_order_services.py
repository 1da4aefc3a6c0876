"""The order-select and order-sign services through the Flask test client."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.http.app import create_app
from tests.cards.card_helpers import assert_valid_response, empty_values

ROOT = Path(__file__).resolve().parents[2]
ORDER_FIXTURES = sorted(
    p for p in (ROOT / "fixtures").glob("order-*.json") if not p.name.endswith(".expected.json")
)
B12_CODES = {"11248", "5514", "B03BA01", "B03BA03"}


def _client(now: str = "2026-10-15T09:30:00Z") -> FlaskClient:
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    settings = load_settings(environ={}, database_url="sqlite://")
    return create_app(settings, clock=lambda: moment).test_client()


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "fixtures" / f"{name}.json").read_text("utf-8"))


def _post(fixture: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    response = _client(fixture["now"]).post(
        f"/cds-services/{fixture['service']}", json=request or fixture["request"]
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def _topics(body: dict[str, Any]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in body["cards"]]


def _b12_offers(body: dict[str, Any]) -> list[str]:
    offered = []
    for card in body["cards"]:
        for suggestion in card.get("suggestions", ()):
            for action in suggestion["actions"]:
                concept = action.get("resource", {}).get("medicationCodeableConcept", {})
                if {c.get("code") for c in concept.get("coding", ())} & B12_CODES:
                    offered.append(suggestion["label"])
    return offered


def test_there_are_order_fixtures_for_both_hooks() -> None:
    hooks = {json.loads(p.read_text("utf-8"))["request"]["hook"] for p in ORDER_FIXTURES}
    assert len(ORDER_FIXTURES) >= 6 and hooks == {"order-select", "order-sign"}


@pytest.mark.parametrize("path", ORDER_FIXTURES, ids=lambda p: p.stem)
def test_every_order_fixture_gives_a_valid_response(path: Path) -> None:
    body = _post(json.loads(path.read_text("utf-8")))
    assert_valid_response(body)  # schema, summary length, every created resource against R4B
    assert empty_values(body) == []


def test_discovery_lists_both_order_services_with_the_screen_prefetch() -> None:
    services = {s["id"]: s for s in _client().get("/cds-services").json["services"]}
    screen = services["deficiency-screen"]
    assert services["deficiency-order-select"]["hook"] == "order-select"
    assert services["deficiency-order-sign"]["hook"] == "order-sign"
    for key in ("deficiency-order-select", "deficiency-order-sign"):
        assert services[key]["prefetch"] == screen["prefetch"]
        assert "myelin" not in services[key]


def test_an_order_sign_body_sent_to_the_order_select_service_is_a_400() -> None:
    fixture = _fixture("order-sign-b12-duplicate-current")
    response = _client().post("/cds-services/deficiency-order-select", json=fixture["request"])
    assert response.status_code == 400
    assert "order-select" in response.get_data(as_text=True)


def test_a_patient_view_body_sent_to_the_order_sign_service_is_a_400() -> None:
    fixture = _fixture("b12-deficiency-metformin-older-adult")
    response = _client().post("/cds-services/deficiency-order-sign", json=fixture["request"])
    assert response.status_code == 400


def test_order_select_without_selections_is_a_400_naming_the_field() -> None:
    request = copy.deepcopy(_fixture("order-select-metformin-only-selected-judged")["request"])
    del request["context"]["selections"]
    response = _client().post("/cds-services/deficiency-order-select", json=request)
    assert response.status_code == 400
    assert "selections" in response.get_data(as_text=True)


def test_order_sign_without_draft_orders_is_a_400() -> None:
    request = copy.deepcopy(_fixture("order-sign-folate-with-b12-deficiency")["request"])
    request["context"]["draftOrders"] = {"entry": []}
    response = _client().post("/cds-services/deficiency-order-sign", json=request)
    assert response.status_code == 400
    assert "draftOrders" in response.get_data(as_text=True)


def test_the_duplicate_card_offers_to_delete_the_draft_order() -> None:
    body = _post(_fixture("order-sign-b12-duplicate-current"))
    [card] = body["cards"]
    assert card["indicator"] == "warning"
    assert card["source"]["topic"]["code"] == "b12-duplicate-therapy"
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Remove the duplicate B12 order"
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": suggestion["actions"][0]["description"],
            "resourceId": "MedicationRequest/draft-2001-b12",
        }
    ]
    assert "2026-03-01" in card["detail"]  # the current therapy and since when
    assert _b12_offers(body) == []


def test_two_b12_orders_can_each_be_removed_but_only_one() -> None:
    body = _post(_fixture("order-sign-two-b12-orders-no-bundle-type"))
    [card] = body["cards"]
    assert card["selectionBehavior"] == "at-most-one"
    ids = [s["actions"][0]["resourceId"] for s in card["suggestions"]]
    assert ids == ["MedicationRequest/draft-2002-oral", "MedicationRequest/draft-2002-im"]
    assert len({s["label"] for s in card["suggestions"]}) == 2


def test_folic_acid_card_offers_b12_choices_unless_b12_is_ordered_too() -> None:
    fixture = _fixture("order-sign-folate-with-b12-deficiency")
    body = _post(fixture)
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "folate-without-b12"
    assert card["selectionBehavior"] == "at-most-one" and len(_b12_offers(body)) == 3
    assert "140" in card["summary"]

    request = copy.deepcopy(fixture["request"])
    b12 = copy.deepcopy(request["context"]["draftOrders"]["entry"][0])
    b12["resource"]["id"] = "draft-2003-b12"
    b12["resource"]["medicationCodeableConcept"] = {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "11248"}],
        "text": "cyanocobalamin 1000 MCG Oral Tablet",
    }
    request["context"]["draftOrders"]["entry"].append(b12)
    assert _post(fixture, request)["cards"] == []


def test_order_select_judges_only_the_selection() -> None:
    fixture = _fixture("order-select-metformin-only-selected-judged")
    assert _topics(_post(fixture)) == ["b12-testing-recommended"]
    request = copy.deepcopy(fixture["request"])
    request["context"]["selections"] = ["MedicationRequest/draft-2005-b12"]
    assert _topics(_post(fixture, request)) == ["b12-duplicate-therapy"]


def test_a_draft_order_of_another_patient_gives_no_card() -> None:
    fixture = _fixture("order-select-other-patient-draft-ignored")
    assert _post(fixture)["cards"] == []
    request = copy.deepcopy(fixture["request"])
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["subject"] = {"reference": "Patient/pt-2008"}
    assert _topics(_post(fixture, request)) == ["folate-without-b12"]


@pytest.mark.parametrize("topic", ["b12-duplicate-therapy", "folate-without-b12"])
def test_the_new_topics_have_documentation_pages(topic: str) -> None:
    response = _client().get(f"/docs/topics/{topic}")
    assert response.status_code == 200
    assert "Order services only" in response.get_data(as_text=True)
