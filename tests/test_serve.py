"""`cds serve` runs the real service under gunicorn, as the README starts it."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import patient_view_request

ROOT = Path(__file__).resolve().parents[1]
CDS = Path(sys.executable).with_name("cds")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env["CDS_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp_path = tmp_path_factory.mktemp("serve")
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(CDS), "serve", "--port", str(port), "--workers", "1"],
            env=_environment(
                tmp_path, CDS_MAX_BODY_BYTES="4000", CDS_CLIENT_READ_TIMEOUT_S="1",
                CDS_CLIENT_REQUEST_DEADLINE_S="2",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"cds serve did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base, log_path
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.integration
def test_startup_line_names_url_services_and_security_mode(server: tuple[str, Path]) -> None:
    base, log_path = server
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "service started")
    assert started["url"] == f"{base}/cds-services"
    assert started["services"] == ["deficiency-order-select", "deficiency-order-sign", "deficiency-screen"]
    assert started["security"] == "open"


@pytest.mark.integration
def test_gunicorn_serves_discovery_health_and_calls(server: tuple[str, Path]) -> None:
    base, _ = server
    assert "gunicorn" in requests.get(f"{base}/healthz", timeout=5).headers.get("Server", "")
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health["authMode"] == "open" and health["acceptsUnauthenticatedCalls"] is True
    services = requests.get(f"{base}/cds-services", timeout=5).json()["services"]
    assert [s["id"] for s in services] == [
        "deficiency-screen",
        "deficiency-order-select",
        "deficiency-order-sign",
    ]
    call = requests.post(f"{base}/cds-services/deficiency-screen", json=patient_view_request(), timeout=5)
    assert call.status_code == 200 and isinstance(call.json()["cards"], list)


@pytest.mark.integration
def test_chunked_body_over_the_limit_is_413(server: tuple[str, Path]) -> None:
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.putrequest("POST", "/cds-services/deficiency-screen")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for _ in range(10):
        chunk = b"x" * 1000
        connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["resourceType"] == "OperationOutcome"


@pytest.mark.integration
def test_clients_that_stop_sending_do_not_hold_the_server(server: tuple[str, Path]) -> None:
    base, log_path = server
    host, port = base.removeprefix("http://").split(":")
    head = b"POST /cds-services/deficiency-screen HTTP/1.1\r\nHost: cds\r\n"
    stalled = []
    for index in range(4):  # twice as many as the server has threads
        sock = socket.create_connection((host, int(port)), timeout=10)
        if index % 2:
            sock.sendall(head + b"Content-Ty")  # stops inside the headers
        else:
            sock.sendall(head + b"Content-Type: application/json\r\nContent-Length: 3000\r\n\r\n{")
        stalled.append(sock)
    call = requests.post(f"{base}/cds-services/deficiency-screen", json=patient_view_request(), timeout=20)
    assert call.status_code == 200
    for index, sock in enumerate(stalled):
        with sock:
            answer = sock.recv(200)
        if index % 2:
            assert answer == b""  # closed: no request ever arrived to answer
        else:
            assert answer.startswith(b"HTTP/1.1 408"), answer
    assert "client sent nothing for client_read_timeout_s" in log_path.read_text()
    assert "Traceback" not in log_path.read_text()


def _trickle(host: str, port: int, upfront: bytes, data: bytes, answers: list[bytes]) -> None:
    """Send `upfront`, then one byte of `data` every 0.3 s (never silent for the 1 s receive
    timeout) until answered."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(upfront)
        for index in range(len(data)):
            try:
                sock.sendall(data[index : index + 1])
            except OSError:
                break
            ready, _, _ = select.select([sock], [], [], 0.3)
            if ready:
                answers.append(sock.recv(200))
                return
        answers.append(b"not answered")


@pytest.mark.integration
def test_clients_that_trickle_a_request_are_cut_off_at_the_deadline(server: tuple[str, Path]) -> None:
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    head = b"POST /cds-services/deficiency-screen HTTP/1.1\r\nHost: cds\r\n"
    body = b"Content-Type: application/json\r\nContent-Length: 3000\r\n\r\n" + b" " * 3000
    answers: dict[str, list[bytes]] = {"headers": [], "body": []}
    slow_header = (head, b"X-Slow: " + b"a" * 100, answers["headers"])
    slow_body = (head + body[:-3000], body[-3000:], answers["body"])
    threads = [
        threading.Thread(target=_trickle, args=(host, int(port), *which))
        for which in (slow_header, slow_header, slow_body, slow_body)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    call = requests.post(f"{base}/cds-services/deficiency-screen", json=patient_view_request(), timeout=10)
    assert call.status_code == 200
    for thread in threads:
        thread.join(15)
    assert answers["headers"] == [b"", b""]  # closed: no request was ever received
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers["body"]), answers["body"]


@pytest.mark.integration
def test_connections_that_send_nothing_take_no_thread(server: tuple[str, Path]) -> None:
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(6)]  # 3x the threads
    try:
        time.sleep(0.2)
        started = time.monotonic()
        assert requests.get(f"{base}/healthz", timeout=3).status_code == 200
        assert time.monotonic() - started < 2  # not queued behind the silent connections
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.integration
def test_invalid_definition_stops_startup_with_a_message(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    (hooks / "deficiency-screen.json").write_text('{"id": "deficiency-screen"}')
    result = subprocess.run(
        [str(CDS), "serve", "--port", str(_free_port())],
        env=_environment(tmp_path, CDS_HOOKS_DIR=str(hooks)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "deficiency-screen.json" in result.stderr and "required property" in result.stderr


@pytest.mark.integration
def test_jwt_mode_without_issuers_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CDS), "serve", "--port", str(_free_port())],
        env=_environment(tmp_path, CDS_AUTH_MODE="jwt"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "issuers" in result.stderr
