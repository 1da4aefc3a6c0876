"""A prefetched first page with a `next` link is completed from the FHIR server when the
request gives fhirServer and a token for an allowed server: the next pages are fetched over
real HTTP from a small loopback server, under the fallback's deadline, page limit and
same-origin rule. Otherwise the list stays marked incomplete (no B12 treatment offered)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cds.config import load_settings
from cds.fhir.client import NOT_PROVIDED
from cds.http.app import create_app
from tests.observe.test_metrics import value

from .conftest import TOKEN, Captured, bundle, fallback_failures, hook_request, observation
from .test_prefetch_fallback import post as post_to


def post(captured: Captured, body: dict[str, Any], **settings: Any) -> Any:
    """A call whose fhirServer (the paging server on a free port) is on the allow-list."""
    if body.get("fhirServer"):
        settings.setdefault("fhir_allowed_servers", ("/".join(body["fhirServer"].split("/")[:3]),))
    return post_to(captured, body, **settings)


def medication_request(ident: str, name: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": name},
    }


class PagingServer:
    """Serves /fhir/page/<n> as Bundle pages; each but the last links to the next one."""

    def __init__(self) -> None:
        self.pages: dict[int, list[dict[str, Any]]] = {}
        self.delay = 0.0
        self.seen: list[tuple[str, str | None]] = []  # (path, Authorization header)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.seen.append((self.path, self.headers.get("Authorization")))
                time.sleep(owner.delay)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self._send(401, {"resourceType": "OperationOutcome", "issue": []})
                    return
                number = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/fhir/page/") else -1
                if number not in owner.pages:
                    self._send(404, {"resourceType": "OperationOutcome", "issue": []})
                    return
                last = number == max(owner.pages)
                page = bundle(*owner.pages[number], next_url=None if last else owner.url(number + 1))
                self._send(200, page)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a free port
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"  # allow-listed by the tests
        self.base = f"{self.origin}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, number: int) -> str:
        return f"{self.base}/page/{number}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fhir() -> Iterator[PagingServer]:
    server = PagingServer()
    try:
        yield server
    finally:
        server.close()


def _first_page(fhir: PagingServer, next_url: str | None = None) -> dict[str, Any]:
    return bundle(medication_request("m1", "Metformin 500 mg"), next_url=next_url or fhir.url(2))


def test_the_next_pages_are_fetched_with_the_token_and_merged(captured: Captured, fhir: PagingServer) -> None:
    fhir.pages = {
        2: [medication_request("m2", "Omeprazole 20 mg")],
        3: [medication_request("m3", "Furosemide")],
    }
    body = hook_request(server=fhir.base)
    body["prefetch"]["medicationRequests"] = _first_page(fhir)
    response = post(captured, body)
    assert response.status_code == 200
    assert [path for path, _auth in fhir.seen] == ["/fhir/page/2", "/fhir/page/3"]
    assert all(auth == f"Bearer {TOKEN}" for _path, auth in fhir.seen)
    merged = captured.prefetch.data["medicationRequests"].as_json()
    assert [e["resource"]["id"] for e in merged["entry"]] == ["m1", "m2", "m3"]
    assert "link" not in merged
    assert "medicationRequests" not in captured.prefetch.unavailable


@pytest.mark.parametrize(
    ("server", "token", "settings"),
    [
        (None, None, {}),  # no fhirServer
        ("same", None, {}),  # no token
        ("same", TOKEN, {"fhir_allowed_servers": ("https://fhir.example.org",)}),  # not on the allow-list
    ],
)
def test_without_allowed_server_access_the_page_stays_incomplete(
    captured: Captured, fhir: PagingServer, server: str | None, token: str | None, settings: dict[str, Any]
) -> None:
    fhir.pages = {2: [medication_request("m2", "Omeprazole 20 mg")]}
    body = hook_request(server=fhir.base if server else None, token=token)
    body["prefetch"]["medicationRequests"] = _first_page(fhir)
    response = post(captured, body, **settings)
    assert response.status_code == 200
    assert fhir.seen == []
    assert "did not follow the next link" in captured.prefetch.unavailable["medicationRequests"]
    assert len(captured.prefetch.data["medicationRequests"].as_json()["entry"]) == 1


def test_a_server_off_the_allow_list_is_refused_once_when_a_page_and_a_missing_key_need_it(
    captured: Captured, fhir: PagingServer
) -> None:
    fhir.pages = {2: [medication_request("m2", "Omeprazole 20 mg")]}
    body = hook_request(server=fhir.base, omit=("conditions",))
    body["prefetch"]["medicationRequests"] = _first_page(fhir)
    refused = value("cds_fhir_fetches_total", outcome="not_allowed")
    response = post(captured, body, fhir_allowed_servers=("https://fhir.example.org",))
    assert response.status_code == 412
    assert "not an allowed FHIR server" in response.get_json()["issue"][0]["diagnostics"]
    assert value("cds_fhir_fetches_total", outcome="not_allowed") == refused + 1
    assert fhir.seen == []


@pytest.mark.parametrize(
    ("case", "settings", "reason"),
    [
        ("other-origin", {}, "another server"),
        ("too-many-pages", {"fhir_max_pages": 2}, "more than 2 pages"),
        ("too-slow", {"fhir_deadline_s": 0.3, "fhir_request_timeout_s": 0.3}, "0.3"),
        ("missing-page", {}, "404"),
    ],
)
def test_when_the_rest_cannot_be_had_the_page_stays_incomplete_and_says_why(
    captured: Captured,
    fhir: PagingServer,
    case: str,
    settings: dict[str, Any],
    reason: str,
    log_text: io.StringIO,
) -> None:
    fhir.pages = {2: [medication_request("m2", "A")], 3: [medication_request("m3", "B")]}
    first = _first_page(fhir)
    if case == "other-origin":
        first = _first_page(fhir, next_url="http://localhost:1/fhir/page/2")  # another origin: token kept
    elif case == "too-slow":
        fhir.delay = 1.0
    elif case == "missing-page":
        first = _first_page(fhir, next_url=fhir.url(7))
    body = hook_request(server=fhir.base)
    body["prefetch"]["medicationRequests"] = first
    response = post(captured, body, **settings)
    assert response.status_code == 200
    why = captured.prefetch.unavailable["medicationRequests"]
    assert why.startswith("incomplete: ") and "remaining pages could not be fetched" in why
    assert NOT_PROVIDED in why and reason in fallback_failures(log_text)["medicationRequests"]
    assert len(captured.prefetch.data["medicationRequests"].as_json()["entry"]) == 1  # the page the EHR sent
    if case == "other-origin":
        assert fhir.seen == []


def _low_b12_call(fhir: PagingServer, page_two: list[dict[str, Any]]) -> dict[str, Any]:
    fhir.pages = {2: page_two}
    body = hook_request(server=fhir.base)
    low_b12 = {**observation("o1"), "valueQuantity": {"value": 120, "unit": "pg/mL"}}
    body["prefetch"]["observations"] = bundle({**low_b12, "effectiveDateTime": date.today().isoformat()})
    body["prefetch"]["medicationRequests"] = _first_page(fhir)
    app = create_app(load_settings(environ={}, database_url="sqlite://", fhir_allowed_servers=(fhir.origin,)))
    return app.test_client().post("/cds-services/deficiency-screen", json=body).get_json()


@pytest.mark.parametrize(
    ("page_two", "offered", "topic"),
    [
        ([medication_request("m2", "Omeprazole 20 mg")], 3, "b12-deficiency"),  # whole list: no B12
        ([medication_request("m2", "Cyanocobalamin 1000 mcg tablet")], 0, "b12-treatment-monitoring"),
    ],
)
def test_through_the_service_the_completed_list_decides_b12_treatment(
    fhir: PagingServer, page_two: list[dict[str, Any]], offered: int, topic: str
) -> None:
    cards = _low_b12_call(fhir, page_two)["cards"]
    topics = {c["source"]["topic"]["code"]: c for c in cards}
    assert topic in topics
    card = topics[topic]
    assert len(card.get("suggestions", [])) == offered
    assert "incomplete" not in card["detail"]
