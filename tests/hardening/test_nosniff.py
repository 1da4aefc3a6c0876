"""Every answer tells browsers not to guess its type (X-Content-Type-Options: nosniff)."""

from __future__ import annotations

from flask.testing import FlaskClient

from cds.server.gunicorn_worker import error_answer
from tests.conftest import patient_view_request

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
        "preflight": client.options(SERVICE, headers={"Origin": "https://ehr.example",
                                                      "Access-Control-Request-Method": "POST"}),
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
