"""Service calls: the happy path and every protocol error path with its status and message."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import Settings
from cds.http.app import create_app
from tests.conftest import HOOK_INSTANCE, patient_view_request

URL = "/cds-services/deficiency-screen"


def _diagnostics(response: Any) -> str:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


def test_valid_patient_view_call_returns_cards_array(client: FlaskClient) -> None:
    response = client.post(URL, json=patient_view_request())
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)


def test_extensions_and_unknown_fields_are_ignored(client: FlaskClient) -> None:
    body = patient_view_request(
        extension={"com.example.flags": {"pilot": True}},
        somethingNew={"a": 1},
    )
    body["context"]["extension"] = {"com.example.context": "x"}
    body["context"]["unknownContextField"] = [1, 2]
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert "cards" in response.get_json()


def test_content_type_with_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(
        URL,
        data=json.dumps(patient_view_request()),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_malformed_json_is_400_with_position(client: FlaskClient) -> None:
    response = client.post(URL, data='{"hook": "patient-view",', content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in _diagnostics(response)
    assert "line 1" in _diagnostics(response)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("context"), "context"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.pop("hook"), "hook"),
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b["context"].pop("userId"), "context.userId"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b["context"].update(patientId="../Patient/x"), "context.patientId"),
        # A pattern's "$" is the end of the text (ECMA-262), not "before a final newline".
        (lambda b: b["context"].update(patientId="p1\n"), "context.patientId"),
        (lambda b: b.update(hookInstance=b["hookInstance"] + "\n"), "hookInstance"),
        (lambda b: b.update(context="p1"), "context"),
        (lambda b: b.update(prefetch=[]), "prefetch"),
        (lambda b: b["prefetch"].update(observations="Bundle"), "prefetch.observations"),
        (lambda b: b.update(fhirServer="ftp://x"), "fhirServer"),
    ],
)
def test_schema_violation_is_400_naming_the_field(client: FlaskClient, mutate: Any, field: str) -> None:
    body = patient_view_request()
    mutate(body)
    response = client.post(URL, json=body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert field in outcome["issue"][0]["diagnostics"]
    assert outcome["issue"][0]["expression"] == [field]


def test_fhir_authorization_without_fhir_server_is_400(client: FlaskClient) -> None:
    body = patient_view_request(
        fhirAuthorization={
            "access_token": "secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    )
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert "fhirServer" in _diagnostics(response)
    assert "secret-token" not in response.get_data(as_text=True)


def test_body_that_is_not_an_object_is_400(client: FlaskClient) -> None:
    response = client.post(URL, json=[1, 2, 3])
    assert response.status_code == 400
    assert "JSON object" in _diagnostics(response)


def test_nan_literal_is_rejected(client: FlaskClient) -> None:
    text = json.dumps(patient_view_request()).replace('"1970-01-01"', "NaN")
    response = client.post(URL, data=text, content_type="application/json")
    assert response.status_code == 400
    assert "NaN" in _diagnostics(response)


def test_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/no-such-service", json=patient_view_request())
    assert response.status_code == 404
    assert "no-such-service" in _diagnostics(response)


def test_hook_different_from_the_service_hook_is_400(client: FlaskClient) -> None:
    body = patient_view_request(hook="order-sign")
    body["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": []}
    response = client.post(URL, json=body)
    assert response.status_code == 400
    message = _diagnostics(response)
    assert "patient-view" in message and "order-sign" in message


def test_body_over_the_limit_is_413(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_body_bytes=2_000)).test_client()
    body = patient_view_request()
    body["prefetch"]["patient"]["name"] = [{"text": "x" * 5_000}]
    response = client.post(URL, json=body)
    assert response.status_code == 413
    assert "2000 bytes" in _diagnostics(response)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(URL, data=json.dumps(patient_view_request()), headers=headers)
    assert response.status_code == 415
    assert "application/json" in _diagnostics(response)


def test_unexpected_error_is_500_without_trace_and_logged_with_hook_instance(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(call: Any) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    client = create_app(settings, handlers={"guideline": broken, "orders": broken}).test_client()
    logger = logging.getLogger("cds")
    logger.addHandler(caplog.handler)
    try:
        response = client.post(URL, json=patient_view_request())
    finally:
        logger.removeHandler(caplog.handler)
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text and "Traceback" not in text
    assert response.get_json()["resourceType"] == "OperationOutcome"
    errors = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert errors and errors[0].fields["hookInstance"] == HOOK_INSTANCE
    assert errors[0].fields["error_type"] == "RuntimeError"
    # the operator can find the fault: its message and the service's own line that raised it
    assert errors[0].fields["error"] == "secret internal detail"
    assert re.fullmatch(r"cds/[\w/]+\.py:\d+ in \w+", errors[0].fields["where"])


def test_request_log_line_is_structured_and_carries_no_patient_data(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("cds")
    logger.addHandler(caplog.handler)
    try:
        client.post(URL, json=patient_view_request())
    finally:
        logger.removeHandler(caplog.handler)
    lines = [r for r in caplog.records if r.getMessage() == "request"]
    assert lines
    fields = lines[-1].fields
    assert fields["hookInstance"] == HOOK_INSTANCE
    assert fields["service"] == "deficiency-screen"
    assert fields["status"] == 200
    assert isinstance(fields["duration_ms"], float)
    assert "1970-01-01" not in json.dumps(fields)


def test_unknown_route_and_wrong_method_answer_operation_outcomes(client: FlaskClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.get_json()["resourceType"] == "OperationOutcome"
    wrong = client.get(URL)
    assert wrong.status_code == 405
    assert "GET" in _diagnostics(wrong)


class _BrokenBody:
    """A request body whose read fails the way a socket does."""

    size = 100

    def __init__(self, error: OSError) -> None:
        self.error = error
        self.position = 0

    def read(self, *_args: Any) -> bytes:
        raise self.error

    readline = read

    def tell(self) -> int:  # the test client measures the body by seeking to its end
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.size if whence == 2 else offset
        return self.position


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (BlockingIOError(11, "Resource temporarily unavailable"), 408, "stopped arriving"),
        (ConnectionResetError(104, "Connection reset by peer"), 400, "connection closed"),
    ],
)
def test_a_body_that_stops_arriving_gets_a_clear_answer(
    client: FlaskClient, error: OSError, status: int, words: str
) -> None:
    response = client.post(
        URL,
        input_stream=_BrokenBody(error),
        content_type="application/json",
    )
    assert response.status_code == status
    assert words in response.get_json()["issue"][0]["diagnostics"]
