"""The companion app's routes in process: off unless registered, the launch page's checks and
headers, and the chart endpoint's input bounds (clear OperationOutcomes, nothing logged)."""

from __future__ import annotations

import html
import io
import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.logs import JsonFormatter
from cds.server.wsgi import build_app
from cds.tools.fixtures import load_fixture

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = load_fixture(ROOT / "fixtures" / "hypomagnesemia-ppi-furosemide.json")
ISS = "http://127.0.0.1:9999/fhir"
V2_SCOPES = [
    "openid",
    "fhirUser",
    "patient/Patient.r",
    "patient/Observation.rs",
    "patient/MedicationRequest.rs",
    "patient/MedicationStatement.rs",
    "patient/Condition.rs",
]


def make_client(**settings: Any) -> FlaskClient:
    values = {"database_url": "sqlite://", "log_level": "WARNING", **settings}
    return build_app(load_settings(environ={}, **values), clock=lambda: FIXTURE.now).test_client()


@pytest.fixture
def client() -> FlaskClient:
    return make_client(smart_client_id="myelin-companion")


def chart_body() -> dict[str, Any]:
    return {"patientId": FIXTURE.request["context"]["patientId"], "resources": FIXTURE.request["prefetch"]}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline = False
        self.body: dict[str, str | None] = {}
        self.problem: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts.append(found)
            self._in_script = True
        if tag == "body":
            self.body = found
        if found.get("data-problem"):
            self.problem = found["data-problem"]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        self.inline = self.inline or (self._in_script and bool(data.strip()))


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/app/launch?iss=" + ISS),
        ("GET", "/app/"),
        ("GET", "/app/static/app.js"),
        ("POST", "/app/api/chart"),
    ],
)
def test_off_unless_the_site_registered_the_app(method: str, path: str) -> None:
    answer = make_client().open(path, method=method, json=chart_body() if method == "POST" else None)
    assert answer.status_code == 404
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_launch_page_starts_a_pkce_sign_in_with_the_site_s_settings(client: FlaskClient) -> None:
    answer = client.get(f"/app/launch?iss={ISS}&launch=abc123")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    page = parse(answer.get_data(as_text=True))
    assert page.scripts == [{"type": "module", "src": "/app/static/launch.js"}] and not page.inline
    config = json.loads(page.body["data-config"] or "")
    assert config["clientId"] == "myelin-companion"
    assert config["redirectUri"] == "http://localhost/app/"
    assert (config["iss"], config["launch"]) == (ISS, "abc123")
    assert config["scopes"]["v2"] == V2_SCOPES
    assert config["scopes"]["v1"] == [re.sub(r"\.rs?$", ".read", s) for s in V2_SCOPES]
    assert config["allowedServers"] == ["http://127.0.0.1", "http://localhost"]
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "connect-src 'self' http://127.0.0.1:* http://localhost:*;" in policy
    assert "frame-ancestors 'self' http://127.0.0.1:* http://localhost:*;" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_site_s_ehr_and_servers_reach_the_policy() -> None:
    client = make_client(
        smart_client_id="x",
        frame_ancestors="https://ehr.example.org",
        smart_allowed_servers="https://fhir.example.org, https://auth.example.org:8443",
        public_base_url="https://cds.example.org",
    )
    answer = client.get("/app/launch?iss=https://fhir.example.org/r4")
    policy = answer.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://fhir.example.org:* https://auth.example.org:8443;" in policy
    assert "frame-ancestors https://ehr.example.org;" in policy
    config = json.loads(parse(answer.get_data(as_text=True)).body["data-config"] or "")
    assert config["redirectUri"] == "https://cds.example.org/app/"


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.org/fhir",
        "http://127.0.0.1@evil.example.org/fhir",
        "javascript:alert(1)",
        "http://127.0.0.2/fhir",
    ],
)
def test_an_iss_not_on_the_list_gets_a_page_not_a_redirect(client: FlaskClient, iss: str) -> None:
    answer = client.get("/app/launch", query_string={"iss": iss, "launch": "abc"})
    assert answer.status_code == 403 and "Location" not in answer.headers
    page = parse(answer.get_data(as_text=True))
    assert page.problem == "iss-not-allowed" and page.scripts == []
    assert "not on this site's list" in html.unescape(answer.get_data(as_text=True))


def test_a_hostile_iss_is_shown_as_text(client: FlaskClient) -> None:
    answer = client.get("/app/launch", query_string={"iss": 'https://x.org/"><script>alert(1)</script>'})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 403 and "<script>alert" not in text and "&lt;script&gt;" in text


def test_no_iss_and_an_unusable_launch_say_what_to_do(client: FlaskClient) -> None:
    missing = client.get("/app/launch")
    assert missing.status_code == 400 and parse(missing.get_data(as_text=True)).problem == "no-iss"
    long = client.get("/app/launch", query_string={"iss": ISS, "launch": "x" * 5000})
    assert long.status_code == 400 and parse(long.get_data(as_text=True)).problem == "bad-launch"


def test_the_app_page_knows_the_codes_to_search_for(client: FlaskClient) -> None:
    page = parse(client.get("/app/").get_data(as_text=True))
    config = json.loads(page.body["data-config"] or "")
    # Every analyte's codes, from the knowledge: B12 in both units, albumin for the correction.
    assert {
        "2132-9",
        "14685-2",
        "72160-5",
        "13964-2",
        "13965-9",
        "2000-8",
        "1751-7",
        "29265-6",
        "1995-0",
        "19123-9",
        "2823-3",
        "2951-2",
    } <= set(config["loincs"])
    assert config["chartUrl"] == "/app/api/chart"
    assert page.scripts == [{"type": "module", "src": "/app/static/app.js"}]


def test_static_files_are_served_with_their_types(client: FlaskClient) -> None:
    for name, mime in (
        ("app.js", "text/javascript"),
        ("chart.js", "text/javascript"),
        ("app.css", "text/css"),
    ):
        answer = client.get(f"/app/static/{name}")
        assert answer.status_code == 200 and answer.mimetype == mime
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/app/static/../pages.py").status_code == 404
    assert client.get("/app/static/pages.py").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ([], 400, "request body must be a JSON object"),
        ({"resources": {}}, 400, "missing required field 'patientId'"),
        ({"patientId": "a b", "resources": {}}, 400, "field 'patientId' is not a FHIR id"),
        ({"patientId": "p1"}, 400, "missing required field 'resources'"),
        ({"patientId": "p1", "resources": {"labs": None}}, 400, "unknown key 'resources.labs'"),
        ({"patientId": "p1", "resources": {"observations": []}}, 400, "must be a FHIR resource or Bundle"),
        (
            {"patientId": "p1", "resources": {"observations": {"resourceType": "Bundle", "entry": {}}}},
            400,
            "field 'resources.observations' must be a FHIR resource or Bundle "
            "(a Bundle whose 'entry' is not a list)",
        ),
        (
            {"patientId": "p1", "resources": {}, "unavailable": {"conditions": 3}},
            400,
            "field 'unavailable.conditions' must be a non-empty string",
        ),
        (
            {"patientId": "p1", "resources": {}, "unavailable": {"conditions": "x" * 201}},
            400,
            "longer than 200 characters",
        ),
    ],
)
def test_a_bad_chart_request_is_named(client: FlaskClient, body: Any, status: int, words: str) -> None:
    answer = client.post("/app/api/chart", json=body)
    assert answer.status_code == status
    outcome = answer.get_json()
    assert outcome["resourceType"] == "OperationOutcome" and words in outcome["issue"][0]["diagnostics"]


def test_the_hook_route_s_limits_hold(client: FlaskClient) -> None:
    deep = b'{"patientId": "p1", "resources": {}, "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    answer = client.post("/app/api/chart", data=deep, content_type="application/json")
    assert answer.status_code == 400 and "nests deeper" in answer.get_json()["issue"][0]["diagnostics"]
    answer = client.post(
        "/app/api/chart", data="patientId=p1", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 415
    small = make_client(smart_client_id="x", max_body_bytes=2000, max_resources_per_key=3)
    assert small.post("/app/api/chart", json=chart_body()).status_code == 413
    many = {
        "patientId": "p1",
        "resources": {
            "observations": {
                "resourceType": "Bundle",
                "entry": [{"resource": {"resourceType": "Observation"}}] * 4,
            }
        },
    }
    answer = small.post("/app/api/chart", json=many)
    assert answer.status_code == 413
    assert "resources key 'observations' holds 4 resources" in answer.get_json()["issue"][0]["diagnostics"]


def test_nothing_of_the_chart_is_logged() -> None:
    client = make_client(smart_client_id="x", log_level="INFO")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cds")
    logger.addHandler(handler)
    try:
        assert client.post("/app/api/chart", json=chart_body()).status_code == 200
        assert (
            client.post("/app/api/chart", json={"patientId": "pt-secret-1", "resources": []}).status_code
            == 400
        )
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["path"] for line in lines] == ["/app/api/chart", "/app/api/chart"]
    text = stream.getvalue()
    for secret in ("pt-1016", "pt-secret-1", "Osei", "1.3", "pantoprazole"):
        assert re.search(re.escape(secret), text) is None, secret
