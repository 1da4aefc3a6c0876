"""What is read of a FHIR server's answer is bounded in bytes and in time.

A real loopback server is used where the point is what happens on the socket: how much a
huge answer gets to send, and whether a trickling answer is abandoned.
"""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import responses

from .conftest import PATIENT, Captured, fallback_failures, hook_request, make_app

SERVICE = "/cds-services/deficiency-screen"


def diagnostics(response: Any) -> str:
    return response.get_json()["issue"][0]["diagnostics"]


class Upstream:
    """A loopback HTTP server whose handler streams whatever `body_writer` writes."""

    def __init__(self, body_writer: Callable[[Any, Upstream], None]) -> None:
        self.sent = 0
        self.disconnected = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.end_headers()
                try:
                    body_writer(self.wfile, upstream)
                except OSError:
                    upstream.disconnected.set()  # the client hung up

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fhir"

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _huge(out: Any, upstream: Upstream) -> None:
    """64 MB of a never-ending JSON string, without Content-Length."""
    out.write(b'{"resourceType": "Patient", "id": "p1", "text": "')
    chunk = b"x" * 65536
    for _ in range(1024):
        out.write(chunk)
        upstream.sent += len(chunk)
    out.write(b'"}')
    upstream.disconnected.set()


def _trickle(out: Any, upstream: Upstream) -> None:
    """One byte at a time, forever (until the client hangs up), each well within the timeout."""
    out.write(b'{"resourceType": "Patient", "id": "p1", "text": "')
    while True:
        out.write(b"x")
        out.flush()
        upstream.sent += 1
        if upstream.disconnected.wait(0.02):
            return


@pytest.fixture
def call(captured: Captured) -> Iterator[Callable[..., Any]]:
    def post(server: str, **settings: Any) -> Any:
        origin = "/".join(server.split("/")[:3])  # the upstream's own origin, allow-listed
        app = make_app(captured, fhir_allowed_servers=(origin,), **settings)
        return app.test_client().post(SERVICE, json=hook_request(omit=("patient",), server=server))

    yield post


def test_an_answer_over_the_byte_cap_is_not_read_in_full(
    call: Callable[..., Any], log_text: io.StringIO
) -> None:
    with Upstream(_huge) as upstream:
        response = call(upstream.base, fhir_max_response_bytes=100_000, fhir_deadline_s=5)
        assert upstream.disconnected.wait(10)
    assert response.status_code == 412
    assert "larger than 100000 bytes" in fallback_failures(log_text)["patient"]
    # Socket buffers let some more through, but nowhere near the 64 MB on offer.
    assert upstream.sent < 16 * 1024 * 1024


def test_a_trickling_answer_is_abandoned_at_the_deadline(
    call: Callable[..., Any], log_text: io.StringIO
) -> None:
    with Upstream(_trickle) as upstream:
        response = call(upstream.base, fhir_deadline_s=0.3, fhir_request_timeout_s=0.25)
        # The fetch thread must hang up by itself; before, it read the trickle for ever.
        hung_up = upstream.disconnected.wait(10)
        upstream.disconnected.set()  # stop the writer whatever happened
    assert response.status_code == 412
    assert hung_up
    assert fallback_failures(log_text)["patient"].startswith("timeout: ")


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    captured: Captured, log_text: io.StringIO
) -> None:
    body = json.dumps({**PATIENT, "text": "x" * 5000})
    with responses.RequestsMock() as mock:
        mock.get(
            "http://127.0.0.1:8123/fhir/Patient/p1", body=body, headers={"Content-Length": str(len(body))}
        )
        app = make_app(captured, fhir_max_response_bytes=1000)
        response = app.test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    assert response.status_code == 412
    assert fallback_failures(log_text)["patient"] == "too_large: FHIR server answer is larger than 1000 bytes"


def test_a_compressed_answer_is_capped_after_decompression(captured: Captured, log_text: io.StringIO) -> None:
    # 20 MB of JSON that compresses to a few kilobytes: the cap counts what it expands to.
    bomb = gzip.compress(b'{"resourceType": "Patient", "id": "p1", "text": "' + b"x" * 20_000_000 + b'"}')
    assert len(bomb) < 100_000
    with responses.RequestsMock() as mock:
        mock.get(
            "http://127.0.0.1:8123/fhir/Patient/p1",
            body=bomb,
            headers={"Content-Encoding": "gzip"},
            content_type="application/fhir+json",
        )
        app = make_app(captured, fhir_max_response_bytes=1_000_000)
        response = app.test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    assert response.status_code == 412
    larger = "too_large: FHIR server answer is larger than 1000000 bytes"
    assert fallback_failures(log_text)["patient"] == larger


def test_an_answer_within_the_cap_is_used(captured: Captured) -> None:
    body = gzip.compress(json.dumps(PATIENT).encode())
    with responses.RequestsMock() as mock:
        mock.get(
            "http://127.0.0.1:8123/fhir/Patient/p1",
            body=body,
            headers={"Content-Encoding": "gzip"},
            content_type="application/fhir+json",
        )
        app = make_app(captured, fhir_max_response_bytes=1000)
        response = app.test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    assert response.status_code == 200
    assert captured.prefetch.data["patient"].as_json() == PATIENT


@pytest.mark.parametrize(
    "text",
    [
        '{"resourceType": "Patient", "id": "p1", "name": [{"family": "\\ud800"}]}',  # lone surrogate
        '{"resourceType": "Patient", "id": "p1", "x": NaN}',
        '{"resourceType": "Patient", "id": "p1", "x": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
    ids=["lone-surrogate", "nan", "deep"],
)
def test_json_the_request_parser_would_refuse_is_refused_from_the_fhir_server(
    captured: Captured, text: str, log_text: io.StringIO
) -> None:
    # Parsed leniently, a lone surrogate reaches the handler and cannot be written back as UTF-8.
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:8123/fhir/Patient/p1", body=text, content_type="application/fhir+json")
        app = make_app(captured)
        response = app.test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    assert response.status_code == 412
    assert "patient" in diagnostics(response) and "not JSON" in fallback_failures(log_text)["patient"]
    assert not captured.calls
