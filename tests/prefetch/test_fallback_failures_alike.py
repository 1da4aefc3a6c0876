"""Every FHIR fallback failure reads the same to the caller, whatever happened on the network
(the log keeps the detail); outcomes are typed where they are detected; a fault in this code
is a 500, never a failed fetch."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from cds.fhir import client as fhir_client
from cds.fhir.client import NOT_PROVIDED, FetchOutcome
from cds.limits import BodyRejected
from tests.observe.test_metrics import value

from .conftest import FHIR, PATIENT, Captured, fallback_failures, hook_request, make_app

SERVICE = "/cds-services/deficiency-screen"


def _listener(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                behaviour(conn)

    threading.Thread(target=run, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()


def _closes_at_once(conn: socket.socket) -> None:
    conn.close()


def _speaks_another_protocol(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    conn.close()


def _http(status: int, body: bytes) -> Callable[[socket.socket], None]:
    def answer(conn: socket.socket) -> None:
        conn.recv(65536)
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)
        conn.close()

    return answer


def _silent(conn: socket.socket) -> None:
    threading.Timer(3, conn.close).start()  # holds the connection past the fallback's deadline


def _closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


SERVERS: dict[str, Callable[[], Iterator[int]]] = {
    "nothing listens": _closed_port,
    "closes at once": lambda: _listener(_closes_at_once),
    "not HTTP": lambda: _listener(_speaks_another_protocol),
    "HTTP 404": lambda: _listener(_http(404, b"no")),
    "HTTP 401": lambda: _listener(_http(401, b"")),
    "HTTP 200, not FHIR": lambda: _listener(_http(200, b"<html>hello</html>")),
    "silent": lambda: _listener(_silent),
}


def test_the_412_text_is_the_same_whatever_answers_on_the_port(
    captured: Captured, log_text: io.StringIO
) -> None:
    answers: dict[str, str] = {}
    details: dict[str, str] = {}
    for name, make in SERVERS.items():
        for port in make():
            base = f"http://127.0.0.1:{port}"
            app = make_app(captured, fhir_allowed_servers=(base,), fhir_deadline_s=0.5,
                           fhir_request_timeout_s=0.4)  # fmt: skip
            body = hook_request(omit=("patient",), server=base + "/fhir")
            response = app.test_client().post(SERVICE, json=body)
            assert response.status_code == 412, name
            answers[name] = response.get_json()["issue"][0]["diagnostics"]
            details[name] = fallback_failures(log_text)["patient"]
    expected = f"required prefetch data unavailable (patient: not prefetched; {NOT_PROVIDED})"
    assert set(answers.values()) == {expected}
    assert len(set(details.values())) == len(SERVERS), details  # the log tells them apart


def test_outcomes_are_typed_values_not_read_from_the_wording(
    captured: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rejected(*_args: Any, **_kwargs: Any) -> bytes:
        raise BodyRejected("words that say nothing about size or time", "too_large")

    monkeypatch.setattr(fhir_client, "read_body_bounded", rejected)
    before = value("cds_fhir_fetches_total", outcome="too_large")
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Patient/p1", json=PATIENT)
        response = make_app(captured).test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    assert response.status_code == 412
    assert value("cds_fhir_fetches_total", outcome="too_large") == before + 1
    assert isinstance(fhir_client.FetchResult(None).outcome, FetchOutcome)


def test_a_fault_in_this_code_is_a_500_not_a_missing_key(
    captured: Captured, monkeypatch: pytest.MonkeyPatch, log_text: io.StringIO
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(fhir_client, "_next_link", broken)
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Condition", json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        response = make_app(captured).test_client().post(SERVICE, json=hook_request(omit=("conditions",)))
    assert response.status_code == 500
    assert response.get_json()["issue"][0]["code"] == "exception"
    assert '"event":"unhandled error"' in log_text.getvalue() and "ZeroDivisionError" in log_text.getvalue()


@pytest.mark.parametrize("entry", [5, "x", {"a": 1}])
def test_a_bundle_whose_entry_is_not_a_list_is_an_invalid_answer(
    captured: Captured, log_text: io.StringIO, entry: Any
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Condition", json={"resourceType": "Bundle", "type": "searchset", "entry": entry,
                                             "link": 7})  # fmt: skip
        response = make_app(captured).test_client().post(SERVICE, json=hook_request(omit=("conditions",)))
    assert response.status_code == 200  # conditions are optional
    assert fallback_failures(log_text)["conditions"].startswith("invalid_answer: ")
