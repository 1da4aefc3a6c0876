"""JSON bodies are UTF-8 (RFC 8259 section 8.1): other declared charsets get 415, not a misreading."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from tests.conftest import patient_view_request

SERVICE = "/cds-services/deficiency-screen"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/fhir+json; charset=utf-8",
    ],
)
def test_utf8_json_is_accepted(client: FlaskClient, content_type: str) -> None:
    body = json.dumps(patient_view_request()).encode("utf-8")
    response = client.post(SERVICE, data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [("iso-8859-1", "latin-1"), ("utf-16", "utf-16"), ("windows-1252", "cp1252")],
)
def test_other_charsets_are_refused_with_415(client: FlaskClient, charset: str, encoding: str) -> None:
    request = patient_view_request()
    request["context"]["patientId"] = "p1"
    request["prefetch"]["patient"]["name"] = [{"family": "Müller"}]
    body = json.dumps(request, ensure_ascii=False).encode(encoding)
    response = client.post(
        SERVICE, data=body, headers={"Content-Type": f"application/json; charset={charset}"}
    )
    assert response.status_code == 415
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert charset in outcome["issue"][0]["diagnostics"]
    assert "UTF-8" in outcome["issue"][0]["diagnostics"]


def test_feedback_refuses_other_charsets_too(client: FlaskClient) -> None:
    response = client.post(
        SERVICE + "/feedback",
        data=b'{"feedback": []}',
        headers={"Content-Type": "application/json; charset=iso-8859-1"},
    )
    assert response.status_code == 415
