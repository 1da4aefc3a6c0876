"""Every answer tells browsers not to guess its type (X-Content-Type-Options: nosniff)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.server.gunicorn_worker import error_answer
from cds.server.observability import start_metrics_listener
from cds.server.wsgi import build_app
from tests.conftest import patient_view_request
from tests.served import free_port

SERVICE = "/cds-services/deficiency-screen"


def test_every_kind_of_answer_carries_nosniff(client: FlaskClient) -> None:
    answers = {
        "discovery": client.get("/cds-services"),
        "call": client.post(SERVICE, json=patient_view_request()),
        "bad request": client.post(SERVICE, data=b"{", content_type="application/json"),
        "unsupported type": client.post(SERVICE, data=b"x", content_type="text/plain"),
        "too large": client.post(SERVICE, data=b"x" * (6 * 1024 * 1024), content_type="application/json"),
        "not found": client.get("/no/such/page"),
        "method": client.delete(SERVICE),
        "preflight": client.options(
            SERVICE, headers={"Origin": "https://ehr.example", "Access-Control-Request-Method": "POST"}
        ),
        "health": client.get("/healthz"),
        "openapi": client.get("/openapi.json"),
        "metrics": client.get("/metrics"),
        "topic page": client.get("/docs/topics/b12-deficiency"),
        "admin (off)": client.get("/admin/report"),
        "feedback": client.post(SERVICE + "/feedback", json={"feedback": []}),
    }
    missing = {name: r.status_code for name, r in answers.items()
               if r.headers.getlist("X-Content-Type-Options") != ["nosniff"]}  # fmt: skip
    assert missing == {}


def test_the_http_servers_own_refusals_carry_nosniff() -> None:
    head = error_answer(431, "Request Header Fields Too Large", "header too long").split(b"\r\n\r\n")[0]
    assert b"\r\nX-Content-Type-Options: nosniff" in head


def test_the_preview_pages_say_nosniff_once() -> None:
    settings = load_settings(environ={}, database_url="sqlite://", preview_enabled=True)
    client = build_app(settings).test_client()
    for path in ("/", "/preview/static/preview.js", "/preview/static/preview.css", "/preview/fixtures"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"], path


def test_the_metrics_listener_on_its_own_port_says_nosniff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    port = free_port()
    server = start_metrics_listener("127.0.0.1", port)
    try:
        scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert scraped.headers.get("X-Content-Type-Options") == "nosniff"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"NOT A REQUEST LINE AT ALL\r\n\r\n")  # refused by the HTTP server itself
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 400") and head.count(b"\r\nX-Content-Type-Options: nosniff") == 1
        assert json.loads(body)["resourceType"] == "OperationOutcome"  # not the HTTP server's HTML page
    finally:
        server.shutdown()
        server.server_close()
