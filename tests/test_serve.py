"""`cds serve` runs the real service under gunicorn, as the README starts it."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import patient_view_request
from tests.served import CDS, cds_environment, free_port, start_serve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp_path = tmp_path_factory.mktemp("serve")
    env = cds_environment(
        tmp_path, CDS_MAX_BODY_BYTES="4000", CDS_CLIENT_READ_TIMEOUT_S="1", CDS_CLIENT_REQUEST_DEADLINE_S="2"
    )
    # A misspelt setting, and what Kubernetes injects for a Service named `cds`: neither may
    # stop start-up.
    env.update(CDS_AUDIT_SECRT="not-a-setting", CDS_SERVICE_HOST="10.96.0.12", CDS_PORT="tcp://10.96.0.12:80")
    service = start_serve(tmp_path, tmp_path / "server.log", env, timeout_s=20)
    try:
        yield service.base, service.log
    finally:
        service.stop()


@pytest.mark.integration
def test_startup_line_names_url_services_and_security_mode(server: tuple[str, Path]) -> None:
    base, log_path = server
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    started = next(e for e in events if e["event"] == "service started")
    assert started["url"] == f"{base}/cds-services"
    assert started["services"] == ["deficiency-order-select", "deficiency-order-sign", "deficiency-screen"]
    assert started["security"] == "open"


@pytest.mark.integration
def test_start_up_names_each_variable_that_is_no_setting_in_one_line(server: tuple[str, Path]) -> None:
    _base, log_path = server
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    [warning] = [e for e in events if e["level"] == "warning" and e["event"].startswith("configuration:")]
    assert warning["ignored"] == ["CDS_AUDIT_SECRT", "CDS_PORT"]  # the service link is not a port
    assert "not-a-setting" not in warning["event"]


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


def _urllib_post(url: str, data: object) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)  # type: ignore[arg-type]
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.integration
def test_a_client_that_sends_its_whole_body_first_reads_the_413(server: tuple[str, Path]) -> None:
    """urllib writes the whole body before it reads: the server must not close while it sends."""
    base, _ = server
    status, outcome = _urllib_post(f"{base}/cds-services/deficiency-screen", b"x" * (16 * 1024 * 1024))
    assert status == 413
    assert outcome["resourceType"] == "OperationOutcome"
    assert "4000 bytes" in outcome["issue"][0]["diagnostics"]


@pytest.mark.integration
def test_a_chunked_upload_over_the_limit_reads_the_413(server: tuple[str, Path]) -> None:
    base, _ = server
    chunks = (b"x" * 65536 for _ in range(256))  # 16 MiB, length not known in advance: chunked
    status, outcome = _urllib_post(f"{base}/cds-services/deficiency-screen", chunks)
    assert status == 413
    assert outcome["resourceType"] == "OperationOutcome"
    # the service still answers normally afterwards
    call = requests.post(f"{base}/cds-services/deficiency-screen", json=patient_view_request(), timeout=5)
    assert call.status_code == 200


def _raw_exchange(base: str, request: bytes) -> tuple[int, str, dict]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("content-type", ""), json.loads(body)


@pytest.mark.integration
def test_an_authorization_header_over_the_limit_gets_an_operation_outcome(server: tuple[str, Path]) -> None:
    base, _ = server
    token = "e" * (21 * 1024)  # over max_header_bytes (20 KiB by default)
    response = requests.post(
        f"{base}/cds-services/deficiency-screen",
        json=patient_view_request(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 431
    assert response.headers["Content-Type"] == "application/json"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "max_header_bytes" in outcome["issue"][0]["diagnostics"]
    # a token just under the limit reaches the service (open mode without issuers: not verified)
    near_limit = {"Authorization": "Bearer " + "e" * 15000}
    near = requests.post(
        f"{base}/cds-services/deficiency-screen", json=patient_view_request(), headers=near_limit, timeout=10
    )
    assert near.status_code == 200


@pytest.mark.integration
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"NOT HTTP AT ALL\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    ],
)
def test_requests_the_server_refuses_get_operation_outcomes(
    server: tuple[str, Path], request_bytes: bytes, status: int
) -> None:
    base, _ = server
    answered, content_type, outcome = _raw_exchange(base, request_bytes)
    assert answered == status
    assert content_type == "application/json"
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["diagnostics"]


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
        [str(CDS), "serve", "--port", str(free_port())],
        env=cds_environment(tmp_path, CDS_HOOKS_DIR=str(hooks)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "deficiency-screen.json" in result.stderr and "required property" in result.stderr


@pytest.mark.integration
def test_jwt_mode_without_issuers_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CDS), "serve", "--port", str(free_port())],
        env=cds_environment(tmp_path, CDS_AUTH_MODE="jwt"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "issuers" in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("arguments", "environment", "named"),
    [
        (["--workers", "0"], {}, "setting 'workers': expected a whole number from 1 to 256, got 0"),
        ([], {"CDS_LOG_LEVEL": "LOUD"}, "setting 'log_level': expected one of 'DEBUG', 'INFO'"),
        ([], {"CDS_FHIR_DEADLINE_S": "-1"}, "setting 'fhir_deadline_s': expected a number of seconds"),
        ([], {"CDS_CUTOFF_OVERRIDES": '{"magnesium_low": 0.1}'}, "setting 'cutoff_overrides': cut-off"),
    ],
)
def test_a_bad_setting_stops_startup_with_one_line(
    tmp_path: Path, arguments: list[str], environment: dict[str, str], named: str
) -> None:
    result = subprocess.run(
        [str(CDS), "serve", "--port", str(free_port()), *arguments],
        env=cds_environment(tmp_path, **environment),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert named in result.stderr
    assert "service started" not in result.stderr + result.stdout
