"""CORS: browser-based EHRs (and the public sandbox) call every route directly."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import patient_view_request


def _assert_cors(headers: dict[str, str] | object) -> None:
    assert headers.get("Access-Control-Allow-Origin") == "*"  # type: ignore[attr-defined]
    methods = headers.get("Access-Control-Allow-Methods", "")  # type: ignore[attr-defined]
    assert "POST" in methods and "GET" in methods
    allowed = headers.get("Access-Control-Allow-Headers", "").lower()  # type: ignore[attr-defined]
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_on_discovery_get(client: FlaskClient) -> None:
    _assert_cors(client.get("/cds-services").headers)


def test_cors_on_service_post(client: FlaskClient) -> None:
    response = client.post("/cds-services/deficiency-screen", json=patient_view_request())
    assert response.status_code == 200
    _assert_cors(response.headers)


def test_cors_on_error_responses(client: FlaskClient) -> None:
    response = client.post("/cds-services/deficiency-screen", data="{", content_type="application/json")
    assert response.status_code == 400
    _assert_cors(response.headers)


@pytest.mark.parametrize(
    "path",
    ["/cds-services", "/cds-services/deficiency-screen", "/cds-services/deficiency-screen/feedback"],
)
def test_preflight_answers_without_a_token(client: FlaskClient, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://sandbox.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    _assert_cors(response.headers)
    # an empty answer, never an empty text/html page
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert "OPTIONS" in response.headers["Allow"]


def test_configured_origin_is_echoed_and_varies(client: FlaskClient, settings) -> None:
    from cds.http.app import create_app

    app = create_app(settings.with_overrides(cors_allow_origin="https://ehr.example.org"))
    response = app.test_client().get("/cds-services")
    assert response.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert response.headers["Vary"] == "Origin"
