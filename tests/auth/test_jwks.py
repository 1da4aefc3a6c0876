"""Key sets: fetched once and cached, refetched once for a rotated key, never hammered."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from trusted_ehr import (
    ISS,
    JWKS_URL,
    SERVICE_PATH,
    LogCapture,
    SigningKey,
    call,
    claims_for,
    jwks,
    jwt_settings,
    make_client,
    mint,
)

from cds.config import ConfigError, IssuerConfig
from cds.trust.jwks import JwksSource, KeySet, KeySetUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_key_set_is_fetched_once_and_cached(
    client: FlaskClient, served_jwks: responses.RequestsMock, keys: dict[str, SigningKey]
) -> None:
    for _ in range(3):
        assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH))).status_code == 200
    assert len(served_jwks.calls) == 1
    assert served_jwks.calls[0].request.url == JWKS_URL


def test_rotated_key_is_found_with_one_refetch(keys: dict[str, SigningKey], auth_log: LogCapture) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, json=jwks(keys["ec"]))
        mock.get(JWKS_URL, json=jwks(keys["ec"], keys["rotated"]))  # the EHR rotated its key
        client = make_client(jwt_settings())
        assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH))).status_code == 200
        assert call(client, "service", mint(keys["rotated"], claims_for(SERVICE_PATH))).status_code == 200
        assert len(mock.calls) == 2
    assert [e["kid"] for e in auth_log.events("jwks refetch for unknown kid")] == ["ec-2"]


def test_flood_of_unknown_kids_refetches_once_per_cooldown(keys: dict[str, SigningKey]) -> None:
    clock = FakeClock()
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, json=jwks(keys["ec"]))
        source = JwksSource(url=JWKS_URL, refetch_cooldown_s=30, clock=clock)
        for n in range(50):
            assert source.key(f"made-up-{n}", "ES384") is None
        assert len(mock.calls) == 2  # first load, one refetch
        clock.now += 31
        assert source.key("made-up-again", "ES384") is None
        assert len(mock.calls) == 3


def test_cache_expires_after_jwks_cache_s(keys: dict[str, SigningKey]) -> None:
    clock = FakeClock()
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, json=jwks(keys["ec"]))
        source = JwksSource(url=JWKS_URL, cache_s=600, clock=clock)
        assert source.key("ec-1", "ES384") is not None
        clock.now += 599
        assert source.key("ec-1", "ES384") is not None
        assert len(mock.calls) == 1
        clock.now += 2
        assert source.key("ec-1", "ES384") is not None
        assert len(mock.calls) == 2


def test_fetch_uses_the_configured_timeout(keys: dict[str, SigningKey]) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, json=jwks(keys["ec"]))
        JwksSource(url=JWKS_URL, timeout_s=0.75).key("ec-1", "ES384")
        assert mock.calls[0].request.req_kwargs["timeout"] == 0.75


def test_unreachable_key_set_gives_401_and_is_not_retried_on_every_call(
    keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=requests.ConnectionError("refused"))
        client = make_client(jwt_settings())
        for _ in range(3):
            response = call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH)))
            assert response.status_code == 401
        assert len(mock.calls) == 1
    assert auth_log.failed_checks() == ["jwks_unavailable"] * 3


def test_stale_keys_are_kept_when_a_refresh_fails(keys: dict[str, SigningKey]) -> None:
    clock = FakeClock()
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, json=jwks(keys["ec"]))
        mock.get(JWKS_URL, status=503)
        source = JwksSource(url=JWKS_URL, cache_s=60, clock=clock)
        assert source.key("ec-1", "ES384") is not None
        clock.now += 61
        assert source.key("ec-1", "ES384") is not None  # outage at the EHR: keep the known key
        assert len(mock.calls) == 2


def test_never_fetched_url_raises_unavailable() -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body="<html>not json</html>")
        with pytest.raises(KeySetUnavailable):
            JwksSource(url=JWKS_URL).key("ec-1", "ES384")


def test_symmetric_and_unusable_keys_are_dropped() -> None:
    document = {
        "keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "crv": "P-384"},  # no kid
            "not an object",
            {"kty": "EC", "kid": "ok", "crv": "P-384", "x": "a", "y": "b"},
        ]
    }
    assert list(KeySet.parse(document).keys) == ["ok"]
    with pytest.raises(ValueError):
        KeySet.parse({"keys": "nope"})


def test_key_set_from_a_file(tmp_path: Path, keys: dict[str, SigningKey]) -> None:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(jwks(keys["ec"])))
    with responses.RequestsMock() as mock:  # a file source never touches the network
        client = make_client(jwt_settings(issuers=(IssuerConfig(ISS, jwks_file=str(path)),)))
        assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH))).status_code == 200
        assert call(client, "service", mint(keys["rsa"], claims_for(SERVICE_PATH))).status_code == 401
        assert len(mock.calls) == 0


def test_unreadable_key_file_stops_startup(tmp_path: Path) -> None:
    missing = IssuerConfig(ISS, jwks_file=str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match=r"absent\.json"):
        make_client(jwt_settings(issuers=(missing,)))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken\.json"):
        make_client(jwt_settings(issuers=(IssuerConfig(ISS, jwks_file=str(broken)),)))


def test_deeply_nested_key_set_gives_401_not_500(keys: dict[str, SigningKey], auth_log: LogCapture) -> None:
    # Python's JSON parser raises RecursionError (not ValueError) on deep nesting.
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body='{"keys": ' + "[" * 100_000 + "]" * 100_000 + "}")
        response = call(make_client(jwt_settings()), "service", mint(keys["ec"], claims_for(SERVICE_PATH)))
    assert response.status_code == 401
    assert auth_log.failed_checks() == ["jwks_unavailable"]


def _serve(write_body: Callable[[Any], None]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            with contextlib.suppress(OSError):  # the client hung up
                write_body(self.wfile)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def test_oversized_key_set_is_not_read_in_full() -> None:
    sent = [0]

    def huge(out: Any) -> None:
        out.write(b'{"keys": [], "pad": "')
        for _ in range(1024):  # 64 MB on offer
            out.write(b"x" * 65536)
            sent[0] += 65536

    server, url = _serve(huge)
    try:
        with pytest.raises(KeySetUnavailable):
            JwksSource(url=url, timeout_s=5).key("ec-1", "ES384")
    finally:
        server.shutdown()
        server.server_close()
    assert sent[0] < 16 * 1024 * 1024


def test_trickling_key_set_fetch_ends_within_its_timeout() -> None:
    # The fetch runs under the key set's lock: a never-ending answer would stall every call.
    stop = threading.Event()

    def trickle(out: Any) -> None:
        out.write(b'{"keys": [')
        while not stop.wait(0.02):
            out.write(b" ")
            out.flush()

    server, url = _serve(trickle)
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            JwksSource(url=url, timeout_s=0.3).key("ec-1", "ES384")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(10)
    still_fetching = worker.is_alive()  # before the server stops trickling
    stop.set()
    server.shutdown()
    server.server_close()
    worker.join(10)
    assert not still_fetching
    assert len(outcome) == 1 and isinstance(outcome[0], KeySetUnavailable)
