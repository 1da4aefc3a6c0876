"""order-select: every id in `selections` names an entry of the `draftOrders` Bundle.

The hook definition says draftOrders holds every unsigned order of the session, the newly
selected ones included. A selection that names none is an inconsistent request: answering
it with no cards would read as "nothing to say" about orders the service never saw.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURE = FIXTURES / "order-select-metformin-only-selected-judged.json"
SERVICE = "/cds-services/deficiency-order-select"


def _request(**context: Any) -> dict[str, Any]:
    request = copy.deepcopy(json.loads(FIXTURE.read_text("utf-8"))["request"])
    request["context"].update(context)
    return request


def test_a_selection_missing_from_draft_orders_is_a_400_naming_it(client: FlaskClient) -> None:
    request = _request()
    selected = request["context"]["selections"]
    request["context"]["selections"] = [*selected, "MedicationRequest/not-in-bundle"]
    response = client.post(SERVICE, json=request)
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == [f"context.selections[{len(selected)}]", "context.draftOrders"]
    assert "MedicationRequest/not-in-bundle" in issue["diagnostics"]
    assert "draftOrders" in issue["diagnostics"]


def test_draft_orders_that_lost_the_selected_entry_are_named_too(client: FlaskClient) -> None:
    # The selection is right and the Bundle is wrong: its one entry holds no resource.
    request = _request()
    request["context"]["draftOrders"]["entry"] = [{"a": "x"}]
    response = client.post(SERVICE, json=request)
    assert response.status_code == 400
    assert "context.draftOrders" in response.get_json()["issue"][0]["expression"]


def test_selections_present_in_draft_orders_are_answered(client: FlaskClient) -> None:
    request = _request()
    assert client.post(SERVICE, json=request).status_code == 200
    request["context"]["draftOrders"].pop("type", None)  # the sandbox sends no Bundle.type
    assert client.post(SERVICE, json=request).status_code == 200


def test_a_selection_of_another_type_with_the_same_id_does_not_match(client: FlaskClient) -> None:
    request = _request()
    ident = request["context"]["selections"][0].split("/", 1)[1]
    request["context"]["selections"] = [f"ServiceRequest/{ident}"]
    assert client.post(SERVICE, json=request).status_code == 400
