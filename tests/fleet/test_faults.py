"""The fleet under faults, for real on loopback: PostgreSQL stopped under load, a replica frozen
(SIGSTOP), the shipped deploy/nginx.conf in front of two `cds serve` replicas."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from cds.config import load_settings
from cds.store.database import open_database
from cds.tools.fixtures import load_fixture, request_for
from tests.fleet.processes import Nginx, Postgres, nginx_in_front, postgres_cluster, start_service
from tests.served import Service

pytestmark = pytest.mark.integration

PATH = "/cds-services/deficiency-screen"
FEEDBACK_PATH = PATH + "/feedback"
ADMIN_TOKEN = "committee-" + "k" * 30  # at least 32 characters
CHART = load_fixture(Path(__file__).resolve().parents[2] / "fixtures" / "b12-deficiency-holotc-low.json")


@dataclass
class Fleet:
    postgres: Postgres
    database: str
    replicas: list[Service]
    nginx: Nginx

    def call(self, base: str, timeout: float = 10) -> requests.Response:  # patient-view, with cards
        body = {**request_for(CHART), "hookInstance": str(uuid.uuid4())}
        return requests.post(base + PATH, json=body, timeout=timeout)

    def feedback(self, base: str) -> requests.Response:
        item = {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T10:00:00Z",
        }
        return requests.post(base + FEEDBACK_PATH, json={"feedback": [item]}, timeout=10)

    def audited(self, uuids: list[str]) -> int:
        listed = ",".join(f"'{u}'" for u in uuids)
        return int(self.postgres.psql(f"SELECT count(*) FROM card_audit WHERE card_uuid IN ({listed})",
                                      self.database))  # fmt: skip


def _wait_for(check: Any, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.2)
    return check()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    # A cluster of its own: these tests stop it.
    directory = tmp_path_factory.mktemp("faults")
    with postgres_cluster() as postgres:
        name, url = postgres.new_database()
        open_database(load_settings(environ={}, database_url=url), migrate=True).dispose()
        settings = {
            "CDS_DATABASE_URL": url,
            "CDS_AUTH_MODE": "open",
            "CDS_AUDIT_SECRET": "s" * 40,
            "CDS_AUDIT_FLUSH_S": "0.2",
            "CDS_ADMIN_TOKEN": ADMIN_TOKEN,
            "CDS_PREVIEW_ENABLED": "true",
        }
        replicas = [start_service(directory, f"replica-{n}", workers=1, **settings) for n in (1, 2)]
        try:
            with nginx_in_front([r.port for r in replicas]) as nginx:
                yield Fleet(postgres, name, replicas, nginx)
        finally:
            for replica in replicas:
                replica.stop()


@contextmanager
def database_stopped(fleet: Fleet) -> Iterator[None]:
    fleet.postgres.stop()
    try:
        yield
    finally:
        fleet.postgres.start()


def _ready(base: str) -> bool:
    return requests.get(base + "/readyz", timeout=5).status_code == 200


def test_a_database_outage_takes_no_replica_out_of_nginx_and_readiness_says_so(fleet: Fleet) -> None:
    with database_stopped(fleet):
        statuses = []
        for _ in range(15):
            refused = fleet.feedback(fleet.nginx.base)  # each replica answers 503: its database is away
            assert refused.status_code == 503 and refused.json()["resourceType"] == "OperationOutcome"
            assert refused.headers["Retry-After"] == "1"
            statuses.append(fleet.call(fleet.nginx.base).status_code)  # needs no database
        # A replica answering 503 is alive: nginx keeps sending it calls it can answer.
        assert statuses == [200] * 15, (fleet.nginx.prefix / "error.log").read_text()[-2000:]
        for replica in fleet.replicas:
            assert requests.get(replica.base + "/livez", timeout=5).status_code == 200
            ready = requests.get(replica.base + "/readyz", timeout=5)
            assert ready.status_code == 503
            assert "the database does not answer" in ready.json()["issue"][0]["diagnostics"]
    assert all(_wait_for(lambda base=r.base: _ready(base), 20) for r in fleet.replicas)


def test_every_card_answered_during_an_outage_is_audited_once_the_database_is_back(fleet: Fleet) -> None:
    uuids: list[str] = []
    with database_stopped(fleet):
        for _ in range(12):
            answer = fleet.call(fleet.nginx.base)
            assert answer.status_code == 200
            uuids += [card["uuid"] for card in answer.json()["cards"]]
            time.sleep(0.1)  # the writers try (and fail) several times meanwhile
    assert len(uuids) >= 12
    assert _wait_for(lambda: fleet.audited(uuids) == len(uuids), 20), fleet.audited(uuids)


def _freeze(service: Service, how: signal.Signals) -> None:
    for pid in [service.process.pid, *service.worker_pids()]:
        os.kill(pid, how)


def test_a_frozen_replica_holds_a_call_no_longer_than_the_proxy_read_timeout(fleet: Fleet) -> None:
    frozen, other = fleet.replicas
    _freeze(frozen, signal.SIGSTOP)
    answers: list[tuple[str, int]] = []
    try:
        for _ in range(6):
            body = {**request_for(CHART), "hookInstance": str(uuid.uuid4())}
            # Before, a call nginx gave the frozen replica waited for the whole freeze (the read
            # timeout was 30 s); the client here gives up after 8 s.
            answer = requests.post(fleet.nginx.base + PATH, json=body, timeout=8)
            answers.append((body["hookInstance"], answer.status_code))
    finally:
        _freeze(frozen, signal.SIGCONT)
    assert {status for _, status in answers} <= {200, 503}
    timed_out = [instance for instance, status in answers if status == 503]
    assert timed_out, "no call reached the frozen replica"
    # A call the frozen replica had taken is not passed on to the other: it may have recorded
    # the call's JWT id, and the other would refuse it as a replay.
    passed_on = {e.get("hookInstance") for e in other.events() if e.get("path") == PATH}
    assert not passed_on & set(timed_out)


CLOSED_PATHS = ["/admin/report", "//admin/report", "/%61dmin/report", "/x/../admin/report", "/",
                "/preview/fixtures"]  # fmt: skip


def _get(base: str, path: str) -> requests.Response:
    # A raw path: requests would otherwise normalise it before sending.
    session = requests.Session()
    prepared = session.prepare_request(
        requests.Request("GET", base + "/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    )
    prepared.url = base + path
    return session.send(prepared, timeout=10)


def test_the_dashboard_and_preview_are_closed_in_the_shipped_nginx_unless_opened(fleet: Fleet) -> None:
    replica = fleet.replicas[0]
    assert _get(replica.base, "/admin/report").status_code == 200  # open on the replica itself
    assert _get(replica.base, "/").status_code == 200
    for path in CLOSED_PATHS:
        answer = _get(fleet.nginx.base, path)
        assert answer.status_code == 404, path
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    proxied = requests.get(fleet.nginx.base + "/cds-services", timeout=10)
    assert proxied.status_code == 200
    assert proxied.headers["X-Content-Type-Options"] == "nosniff"  # one, not two

    def open_to_loopback(text: str) -> str:
        return text.replace("        default 0;\n", "        default 0;\n        127.0.0.1 1;\n", 1)

    with nginx_in_front([r.port for r in fleet.replicas], edit=open_to_loopback) as opened:
        assert _get(opened.base, "/admin/report").status_code == 200
        assert _get(opened.base, "/").status_code == 200
