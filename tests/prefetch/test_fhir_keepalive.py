"""The FHIR fallback against a server that closes kept-alive connections it no longer wants.

A real HTTP server on loopback: it answers the first request of each connection with
keep-alive, then closes the connection when the next request arrives on it, without a byte
of answer, as a server does when its idle timeout fires just as the client reuses the
connection. A GET that failed so is sent once more, on a new connection.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cds.config import load_settings
from cds.fhir.client import FhirClient

PATIENT = {"resourceType": "Patient", "id": "p1"}


class ClosesReusedConnections(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer_nothing = False  # a server that reads requests and never answers

    def handle(self) -> None:
        served = 0
        self.close_connection = False
        while not self.close_connection:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                return
            self.server.requests += 1  # type: ignore[attr-defined]
            if served == 1 or self.answer_nothing:
                # the idle timeout fired: close without answering (or hold the request)
                if self.answer_nothing:
                    self.server.release.wait(5)  # type: ignore[attr-defined]
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if not self.parse_request():
                return
            body = json.dumps(PATIENT).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            served += 1

    def log_message(self, *_args: object) -> None:
        pass


def start(handler: type[BaseHTTPRequestHandler]) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = 0  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir", server
    finally:
        server.release.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


@pytest.fixture
def closing_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    yield from start(ClosesReusedConnections)


@pytest.fixture
def silent_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    class Silent(ClosesReusedConnections):
        answer_nothing = True

    yield from start(Silent)


Served = tuple[str, ThreadingHTTPServer]


def test_a_stale_kept_alive_connection_is_retried_once(closing_server: Served) -> None:
    base, server = closing_server
    client = FhirClient(load_settings(environ={}, database_url="sqlite://", fhir_deadline_s=5))
    try:
        for _ in range(4):  # every call after the first reuses a connection the server then drops
            result = client.fetch_all(base, "token", {"patient": "Patient/p1"})["patient"]
            assert result.ok, result.reason
            assert result.resource == PATIENT
        # 4 answers; calls 2 to 4 each met a dropped connection and sent their GET once more
        assert server.requests == 4 + 3  # type: ignore[attr-defined]
    finally:
        client.close()


def test_a_request_that_times_out_is_not_sent_again(silent_server: Served) -> None:
    base, server = silent_server
    settings = load_settings(environ={}, database_url="sqlite://", fhir_request_timeout_s=0.3)
    client = FhirClient(settings)
    try:
        result = client.fetch_all(base, "token", {"patient": "Patient/p1"})["patient"]
        assert not result.ok and "did not answer" in (result.detail or "")
        assert server.requests == 1  # type: ignore[attr-defined]
    finally:
        client.close()
