"""/openapi.json: a valid OpenAPI 3.1 document built from the schemas the service validates
with, that every fixture's request and the service's actual answer to it conform to."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi

from cds.config import load_settings
from cds.http.app import create_app
from cds.schemas import validator_for
from cds.tools.fixtures import fixture_paths, load_fixture

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = fixture_paths([ROOT / "fixtures"])


@cache
def client() -> FlaskClient:
    return create_app(load_settings(environ={}, database_url="sqlite://", log_level="WARNING")).test_client()


@cache
def document() -> dict[str, Any]:
    response = client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def operation_schema(path: str, part: str, status: str = "200") -> Draft202012Validator:
    """A validator for the request body ("request") or a response body of a POST operation,
    references resolved within the served document (as a client generator would)."""
    operation = document()["paths"][path]["post"]
    media = operation["requestBody"] if part == "request" else operation["responses"][status]
    schema = {**media["content"]["application/json"]["schema"], "components": document()["components"]}
    return Draft202012Validator(schema, format_checker=FormatChecker())


def test_the_document_is_valid_openapi_3_1() -> None:
    assert document()["openapi"].startswith("3.1")
    validate_openapi(document())


def test_bodies_are_the_schemas_the_service_validates_with() -> None:
    schemas = document()["components"]["schemas"]
    for component, name in (
        ("HookRequest", "hook-request"),
        ("ServiceResponse", "response"),
        ("Feedback", "feedback"),
    ):
        own = {k: v for k, v in validator_for(name).schema.items() if k not in ("$schema", "$id")}
        assert schemas[component] == own


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) > 40


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_each_fixture_request_and_the_answer_to_it_conform(path: Path) -> None:
    fixture = load_fixture(path)
    url = f"/cds-services/{fixture.service}"
    request_errors = [
        e.message
        for e in operation_schema("/cds-services/{service_id}", "request").iter_errors(fixture.request)
    ]
    assert request_errors == []
    status, body = _sender()(fixture)
    assert status == 200, body
    response_errors = [
        e.message for e in operation_schema("/cds-services/{service_id}", "response").iter_errors(body)
    ]
    assert response_errors == [], url


@cache
def _sender() -> Any:
    """Replayed as `cds replay` does: in process, the clock pinned to the fixture's now."""
    from cds.tools.fixture_replay import in_process_sender

    return in_process_sender()


def test_discovery_feedback_and_errors_conform() -> None:
    doc = document()

    def validator(path: str, method: str, status: str) -> Draft202012Validator:
        schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        full = {**schema, "components": doc["components"]}
        return Draft202012Validator(full, format_checker=FormatChecker())

    discovery = client().get("/cds-services").get_json()
    validator("/cds-services", "get", "200").validate(discovery)
    feedback = {
        "feedback": [
            {
                "card": "9a6a1c43-8f0e-4d5c-9a0e-3f3cf3b7a111",
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-20T10:15:00Z",
            }
        ]
    }
    operation_schema("/cds-services/{service_id}/feedback", "request").validate(feedback)
    stored = client().post("/cds-services/deficiency-screen/feedback", json=feedback)
    validator("/cds-services/{service_id}/feedback", "post", "200").validate(stored.get_json())
    bad = client().post("/cds-services/deficiency-screen", json={"hook": "patient-view"})
    assert bad.status_code == 400
    validator("/cds-services/{service_id}", "post", "400").validate(bad.get_json())
    validator("/healthz", "get", "200").validate(client().get("/healthz").get_json())
    with pytest.raises(Exception, match="required"):
        operation_schema("/cds-services/{service_id}", "request").validate({"hook": "patient-view"})
