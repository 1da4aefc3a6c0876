"""/metrics in process: what each call, card, feedback item, fetch and refusal adds, and
that no label ever carries what a client sent (patient ids, tokens, unknown service names)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from cds.config import IssuerConfig, load_settings
from cds.http.app import create_app
from cds.observe import metrics
from cds.tools.fixtures import load_fixture, request_for
from tests.conftest import patient_view_request

ROOT = Path(__file__).resolve().parents[2]
SECRET_PATIENT = "pt-secret-4711"
SECRET_TOKEN = "eyJhbGciOiJSUzM4NCJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client: FlaskClient) -> list[tuple[str, dict[str, str], float]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    samples = []
    for line in response.get_data(as_text=True).splitlines():
        if line.startswith("#") or not line.startswith("cds_"):
            continue
        match = _SAMPLE.match(line)
        assert match, line
        samples.append((match["name"], dict(_LABEL.findall(match["labels"] or "")), float(match["value"])))
    return samples


@pytest.fixture
def client() -> FlaskClient:
    return create_app(load_settings(environ={}, database_url="sqlite://")).test_client()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_call_counts_its_request_latency_and_each_card(client: FlaskClient) -> None:
    fixture = load_fixture(ROOT / "fixtures" / "b12-deficiency-holotc-low.json")
    request_labels = {"endpoint": "call", "service": "deficiency-screen", "status": "200"}
    before = value("cds_requests_total", **request_labels)
    latency_before = value("cds_request_duration_seconds_count", endpoint="call", service="deficiency-screen")
    card_labels = {"service": "deficiency-screen", "topic": "b12-deficiency", "indicator": "warning"}
    cards_before = value("cds_cards_total", **card_labels)

    response = client.post("/cds-services/deficiency-screen", json=request_for(fixture))
    assert response.status_code == 200
    topics = [(c["source"]["topic"]["code"], c["indicator"]) for c in response.get_json()["cards"]]
    assert ("b12-deficiency", "warning") in topics

    assert value("cds_requests_total", **request_labels) == before + 1
    assert value("cds_request_duration_seconds_count", endpoint="call", service="deficiency-screen") == (
        latency_before + 1
    )
    expected_cards = cards_before + topics.count(("b12-deficiency", "warning"))
    assert value("cds_cards_total", **card_labels) == expected_cards


def test_feedback_items_are_counted_by_outcome_once_stored(client: FlaskClient) -> None:
    url = "/cds-services/deficiency-screen/feedback"
    item = {"card": "9a6a1c43-8f0e-4d5c-9a0e-3f3cf3b7a111", "outcomeTimestamp": "2026-11-20T10:15:00Z"}
    accepted = {**item, "outcome": "accepted", "acceptedSuggestions": [{"id": "1d7c0b52-1f3b-4a5e"}]}
    overridden = {**item, "outcome": "overridden"}
    before = {
        o: value("cds_feedback_items_total", service="deficiency-screen", outcome=o)
        for o in ("accepted", "overridden")
    }
    assert client.post(url, json={"feedback": [accepted, accepted, overridden]}).status_code == 200
    assert client.post(url, json={"feedback": [accepted, {**item, "outcome": "nope"}]}).status_code == 400
    assert value("cds_feedback_items_total", service="deficiency-screen", outcome="accepted") == (
        before["accepted"] + 2
    )
    assert value("cds_feedback_items_total", service="deficiency-screen", outcome="overridden") == (
        before["overridden"] + 1
    )


def test_fhir_fetches_are_counted_by_outcome() -> None:
    closed = _closed_port()
    allowed = (f"http://127.0.0.1:{closed}",)
    settings = load_settings(environ={}, database_url="sqlite://", fhir_allowed_servers=allowed)
    client = create_app(settings).test_client()
    before = value("cds_fhir_fetches_total", outcome="connection_error")
    body = patient_view_request(
        prefetch={},
        fhirServer=f"http://127.0.0.1:{closed}/fhir",
        fhirAuthorization={
            "access_token": SECRET_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        },
    )
    assert client.post("/cds-services/deficiency-screen", json=body).status_code == 412
    assert value("cds_fhir_fetches_total", outcome="connection_error") == before + 6  # one per key

    refused = value("cds_fhir_fetches_total", outcome="not_allowed")
    body["fhirServer"] = "https://fhir.elsewhere.example/r4"
    assert client.post("/cds-services/deficiency-screen", json=body).status_code == 412
    assert value("cds_fhir_fetches_total", outcome="not_allowed") == refused + 1


def test_authentication_failures_are_counted_by_check(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    settings = load_settings(
        environ={},
        database_url="sqlite://",
        auth_mode="jwt",
        public_base_url="https://cds.example.org",
        issuers=(IssuerConfig(iss="https://ehr.example.org", jwks_file=str(jwks)),),
    )
    client = create_app(settings).test_client()
    missing = value("cds_auth_failures_total", check="missing_token")
    malformed = value("cds_auth_failures_total", check="malformed_token")
    assert client.post("/cds-services/deficiency-screen", json=patient_view_request()).status_code == 401
    headers = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    assert client.post("/cds-services/deficiency-screen", json={}, headers=headers).status_code == 401
    assert value("cds_auth_failures_total", check="missing_token") == missing + 1
    assert value("cds_auth_failures_total", check="malformed_token") == malformed + 1
    assert SECRET_TOKEN not in client.get("/metrics").get_data(as_text=True)


def test_no_label_carries_what_a_client_sent(client: FlaskClient) -> None:
    hostile: list[dict[str, Any]] = [
        patient_view_request(context={"userId": "Practitioner/x", "patientId": SECRET_PATIENT}),
        patient_view_request(hookInstance=SECRET_PATIENT),
    ]
    for body in hostile:
        client.post("/cds-services/deficiency-screen", json=body)
        client.post(f"/cds-services/{SECRET_PATIENT}", json=body)
        client.post(f"/cds-services/{SECRET_PATIENT}/feedback", json={"feedback": []})
        client.get(
            f"/cds-services/{SECRET_PATIENT}?token={SECRET_TOKEN}",
            headers={"Authorization": f"Bearer {SECRET_TOKEN}"},
        )
    text = client.get("/metrics").get_data(as_text=True)
    assert SECRET_PATIENT not in text and SECRET_TOKEN not in text
    assert value("cds_requests_total", endpoint="call", service="unknown", status="404") >= 2

    services = {"deficiency-screen", "deficiency-order-select", "deficiency-order-sign", "unknown", "none"}
    allowed = {
        "endpoint": {"call", "feedback", "discovery", "health", "metrics", "openapi", "other"},
        "service": services,
        "status": {str(code) for code in range(100, 600)},
        "indicator": set(metrics.INDICATORS) | {"other"},
        "outcome": set(metrics.FHIR_OUTCOMES) | set(metrics.FEEDBACK_OUTCOMES) | {"other"},
        "le": None,  # histogram bucket bounds: numbers fixed in code
        "topic": None,  # checked below against the topic catalogue
        "check": None,
    }
    from cds.knowledge import load_knowledge

    topics = set(load_knowledge().topics) | {"other"}
    for name, labels, _ in scrape(client):
        for label, got in labels.items():
            assert label in allowed, f"{name}: unexpected label {label}"
            if label == "topic":
                assert got in topics, f"{name}: topic {got!r}"
            elif label == "check":
                assert re.fullmatch(r"[a-z][a-z0-9_]{0,39}", got), f"{name}: check {got!r}"
            elif allowed[label] is not None:
                assert got in allowed[label], f"{name}: {label}={got!r}"


def test_metrics_can_be_turned_off_or_moved_to_another_port() -> None:
    off = create_app(load_settings(environ={}, database_url="sqlite://", metrics_enabled=False))
    assert off.test_client().get("/metrics").status_code == 404
    moved = create_app(load_settings(environ={}, database_url="sqlite://", metrics_port=9464))
    assert moved.test_client().get("/metrics").status_code == 404  # served by its own listener


def test_the_metrics_port_must_differ_from_the_service_port() -> None:
    from cds.config import ConfigError

    with pytest.raises(ConfigError, match="metrics_port"):
        load_settings(environ={}, port=8080, metrics_port=8080)
