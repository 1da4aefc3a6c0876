"""The configurable input limits: body size, JSON depth, resources per prefetch key, bounded reads,
plus the inputs JSON allows but the service refuses (lone surrogates, numbers out of range)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hostile import FEEDBACK, SERVICE, VALID_CALL, VALID_FEEDBACK, assert_well_formed, encode, mutated
from werkzeug.test import EnvironBuilder, run_wsgi_app

from cds.config import load_settings
from cds.http.app import create_app


def make_client(**settings: Any) -> FlaskClient:
    app: Flask = create_app(load_settings(environ={}, database_url="sqlite://", **settings))
    return app.test_client()


def diagnostics(response: Any) -> str:
    return assert_well_formed(response)["issue"][0]["diagnostics"]


def bundle_of(count: int) -> dict[str, Any]:
    entry = {"resource": {"resourceType": "Observation", "status": "final"}}
    return {"resourceType": "Bundle", "type": "searchset", "entry": [entry] * count}


@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_body_over_the_size_limit_is_413(path: str) -> None:
    client = make_client(max_body_bytes=2000)
    body = mutated(VALID_CALL, ("extension",), {"padding": "x" * 3000})
    response = client.post(path, data=encode(body), content_type="application/json")
    assert response.status_code == 413
    assert "2000 bytes" in diagnostics(response)


def test_body_just_under_the_limit_is_read() -> None:
    data = encode(VALID_CALL)
    client = make_client(max_body_bytes=len(data))
    assert client.post(SERVICE, data=data, content_type="application/json").status_code == 200


class EndlessBody(io.RawIOBase):
    """A client that never stops sending: counts what the service reads."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.read_bytes >= 20 * 1024 * 1024:
            return 0  # give up eventually, so an unbounded reader fails the test instead of hanging
        chunk = min(len(buffer), 64 * 1024)
        buffer[:chunk] = b" " * chunk
        self.read_bytes += chunk
        return chunk


def streaming_environ(stream: EndlessBody, content_length: int | None) -> dict[str, Any]:
    """A WSGI environ whose body is `stream` (the test client would try to measure it)."""
    environ = EnvironBuilder(path=SERVICE, method="POST", content_type="application/json").get_environ()
    environ["wsgi.input"] = stream
    if content_length is None:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True  # what a server sets for a chunked upload
    else:
        environ["CONTENT_LENGTH"] = str(content_length)
    return environ


def call_wsgi(client: FlaskClient, environ: dict[str, Any]) -> int:
    """Run the app on a raw environ (the test client would rebuild, and so measure, the body)."""
    app_iter, status, _headers = run_wsgi_app(client.application, environ)
    b"".join(app_iter)
    return int(status.split()[0])


def test_endless_body_without_length_is_cut_off_at_the_limit() -> None:
    # Chunked upload with no Content-Length: the read must stop at the limit, not at the end.
    client = make_client(max_body_bytes=100_000)
    stream = EndlessBody()
    status = call_wsgi(client, streaming_environ(stream, content_length=None))
    assert status == 413
    assert stream.read_bytes <= 100_000 + 128 * 1024


def test_lying_content_length_is_refused_before_reading() -> None:
    client = make_client(max_body_bytes=1000)
    stream = EndlessBody()
    status = call_wsgi(client, streaming_environ(stream, content_length=10_000_000))
    assert status == 413
    assert stream.read_bytes == 0


@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_nesting_past_the_depth_limit_is_400_naming_the_limit(path: str) -> None:
    client = make_client(max_json_depth=20)
    deep: Any = "bottom"
    for _ in range(25):
        deep = {"d": deep}
    body = mutated(VALID_CALL if path == SERVICE else VALID_FEEDBACK, ("extension",), deep)
    response = client.post(path, data=encode(body), content_type="application/json")
    assert response.status_code == 400
    assert "deeper than 20 levels" in diagnostics(response)


def test_very_deep_nesting_cannot_exhaust_the_stack() -> None:
    client = make_client()
    for body in (b"[" * 200_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        response = client.post(SERVICE, data=body, content_type="application/json")
        assert response.status_code == 400
        assert "deeper than 64 levels" in diagnostics(response)


def test_too_many_resources_in_one_key_is_413_naming_the_key() -> None:
    client = make_client(max_resources_per_key=100)
    body = mutated(VALID_CALL, ("prefetch", "observations"), bundle_of(101))
    response = client.post(SERVICE, data=encode(body), content_type="application/json")
    assert response.status_code == 413
    message = diagnostics(response)
    assert "'observations'" in message and "101" in message and "100" in message
    body = mutated(VALID_CALL, ("prefetch", "observations"), bundle_of(100))
    assert client.post(SERVICE, data=encode(body), content_type="application/json").status_code == 200


@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_lone_surrogate_is_a_clear_400(path: str) -> None:
    client = make_client()
    base = VALID_CALL if path == SERVICE else VALID_FEEDBACK
    body = mutated(base, ("extension",), {"note": "\ud800"})
    response = client.post(path, data=encode(body), content_type="application/json")
    assert response.status_code == 400
    assert "surrogate" in diagnostics(response)


def test_paired_surrogate_escapes_are_ordinary_text() -> None:
    client = make_client()
    body = mutated(VALID_CALL, ("extension",), {"note": "\U0001f600 ok"})
    data = json.dumps(body, ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in data
    assert client.post(SERVICE, data=data, content_type="application/json").status_code == 200


@pytest.mark.parametrize(
    ("literal", "expected"),
    [(b"1e400", "out of range"), (b"-1e400", "out of range"), (b"1" * 5000, "out of range")],
)
def test_numbers_python_cannot_hold_faithfully_are_400(literal: bytes, expected: str) -> None:
    client = make_client()
    data = encode(VALID_CALL).replace(b'"p1"}', b'"p1", "weight": ' + literal + b"}", 1)
    response = client.post(SERVICE, data=data, content_type="application/json")
    assert response.status_code == 400
    assert expected in diagnostics(response)
