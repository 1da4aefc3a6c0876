"""Key sets come only from the configured URL: never through a redirect, never over plain http
except on loopback (development)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from trusted_ehr import ISS, SERVICE_PATH, LogCapture, SigningKey, call, claims_for, jwks, jwt_settings, mint
from trusted_ehr import make_client as make_client_for

from cds.config import ConfigError, IssuerConfig, load_settings
from cds.trust.jwks import JwksSource
from tests.served import CDS, cds_environment


def _serving(answer: Any) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere(keys: dict[str, SigningKey]) -> Iterator[str]:
    """Another origin serving a key set of its own: the forger's key under the issuer's kid."""
    body = json.dumps(jwks(keys["stranger"])).encode()
    yield from _serving(lambda: (200, {"Content-Type": "application/json"}, body))


@pytest.fixture
def redirecting_issuer(elsewhere: str) -> Iterator[str]:
    """The issuer's key set URL answers a redirect to the other origin."""
    yield from _serving(lambda: (302, {"Location": f"{elsewhere}/jwks.json"}, b""))


def test_a_key_set_url_that_redirects_is_not_followed(
    redirecting_issuer: str, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    issuer = IssuerConfig(ISS, jwks_url=f"{redirecting_issuer}/jwks.json", algorithms=("RS384",))
    client = make_client_for(jwt_settings(issuers=(issuer,)))
    forged = mint(keys["stranger"], claims_for(SERVICE_PATH))
    assert call(client, "service", forged).status_code == 401
    assert auth_log.failed_checks() == ["jwks_unavailable"]


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.example.org/jwks.json",
        "ftp://ehr.example.org/jwks.json",
        "http://10.0.0.1/k",
        "http://127.0.0.1.evil.example/k",
        "https:///jwks.json",
    ],
)
def test_a_key_set_url_must_be_https_except_on_loopback(url: str) -> None:
    issuers = json.dumps([{"iss": ISS, "jwks_url": url}])
    with pytest.raises(ConfigError, match="setting 'jwks_url' must be an https:// URL"):
        load_settings(environ={"CDS_ISSUERS": issuers})
    with pytest.raises(ConfigError, match="'jwks_url'"):
        JwksSource(url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://ehr.example.org/jwks.json",
        "http://127.0.0.1:8000/jwks.json",
        "http://localhost/k",
        "http://[::1]:9000/k",
    ],
)
def test_https_and_loopback_key_set_urls_are_accepted(url: str) -> None:
    issuers = json.dumps([{"iss": ISS, "jwks_url": url}])
    assert load_settings(environ={"CDS_ISSUERS": issuers}).issuers[0].jwks_url == url


def test_serve_refuses_a_plain_http_key_set_url_in_one_line(tmp_path: Path) -> None:
    issuers = json.dumps([{"iss": ISS, "jwks_url": "http://ehr.example.org/jwks.json"}])
    env = cds_environment(
        tmp_path, CDS_AUTH_MODE="jwt", CDS_ISSUERS=issuers, CDS_PUBLIC_BASE_URL="https://cds.example.org"
    )
    done = subprocess.run(
        [str(CDS), "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "jwks_url" in lines[0] and lines[0].startswith("cds: cannot start:")
