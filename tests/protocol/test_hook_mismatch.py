"""A call whose `hook` is not the service's is refused for that reason, whatever its context."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import patient_view_request


def test_wrong_hook_is_named_before_its_context_is_judged(client: FlaskClient) -> None:
    # A patient-view context sent as order-sign lacks draftOrders; the real problem is the hook.
    response = client.post("/cds-services/deficiency-screen", json=patient_view_request(hook="order-sign"))
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == ["hook"]
    assert "patient-view" in issue["diagnostics"] and "order-sign" in issue["diagnostics"]


def test_hook_that_is_not_a_string_is_a_schema_error(client: FlaskClient) -> None:
    response = client.post("/cds-services/deficiency-screen", json=patient_view_request(hook=7))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["hook"]
