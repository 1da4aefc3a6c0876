"""A JWT is used once across the whole service: every worker of `cds serve` and every replica
on the same database share the record of used `jti`s (SQLite file here; PostgreSQL in
test_topology.py)."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import patient_view_request
from tests.fleet.processes import start_service
from tests.fleet.tokens import TestEhr
from tests.served import Service

PATH = "/cds-services/deficiency-screen"


def _call(conn: http.client.HTTPConnection, token: str) -> int:
    body = json.dumps(patient_view_request())
    conn.request(
        "POST",
        PATH,
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    response = conn.getresponse()
    response.read()
    return response.status


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _worker_of(conn: http.client.HTTPConnection, service: Service) -> int:
    """The pid of the worker holding this client connection (its server-side socket)."""
    client_port = conn.sock.getsockname()[1]
    wanted = f"{service.port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = fields[1].split(":")[1], fields[2].split(":")[1]
        if local_port == wanted and int(remote_port, 16) == client_port:
            inode = fields[9]
    assert inode is not None, "the server side of the connection was not found"
    owners = [pid for pid in service.worker_pids() if inode in _socket_inodes(pid)]
    assert len(owners) == 1
    return owners[0]


@pytest.fixture
def ehr(tmp_path: Path) -> TestEhr:
    return TestEhr(tmp_path)


@pytest.fixture
def two_workers(tmp_path: Path, ehr: TestEhr) -> Iterator[Service]:
    service = start_service(tmp_path, "serve", workers=2, **ehr.settings())
    try:
        yield service
    finally:
        service.stop()


@pytest.mark.integration
def test_a_token_used_on_one_worker_is_refused_on_the_other(two_workers: Service, ehr: TestEhr) -> None:
    # Open kept-alive connections until each of the two workers holds one.
    by_worker: dict[int, http.client.HTTPConnection] = {}
    opened = []
    for _ in range(60):
        conn = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=10)
        opened.append(conn)
        assert _call(conn, ehr.token(PATH)) == 200  # a fresh token: also proves the call works
        by_worker.setdefault(_worker_of(conn, two_workers), conn)
        if len(by_worker) == 2:
            break
    assert len(by_worker) == 2, "the calls never reached the second worker"
    first, second = by_worker.values()
    token = ehr.token(PATH)
    assert _call(first, token) == 200
    assert _call(second, token) == 401
    assert _call(first, token) == 401
    for conn in opened:
        conn.close()


@pytest.mark.integration
def test_a_token_used_on_one_serve_is_refused_on_another_on_the_same_database(
    tmp_path: Path, ehr: TestEhr
) -> None:
    # Two `cds serve` on one host and one data directory: the embedded database file is shared.
    one = start_service(tmp_path, "one", **ehr.settings())
    try:
        two = start_service(tmp_path, "two", **ehr.settings())
        try:
            token = ehr.token(PATH)
            assert _call(http.client.HTTPConnection("127.0.0.1", one.port, timeout=10), token) == 200
            assert _call(http.client.HTTPConnection("127.0.0.1", two.port, timeout=10), token) == 401
            fresh = ehr.token(PATH)
            assert _call(http.client.HTTPConnection("127.0.0.1", two.port, timeout=10), fresh) == 200
            assert _call(http.client.HTTPConnection("127.0.0.1", one.port, timeout=10), fresh) == 401
        finally:
            two.stop()
    finally:
        one.stop()
