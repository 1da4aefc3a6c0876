"""The audit under the real deployment: gunicorn workers on two replicas sharing one PostgreSQL.

Records queued in a worker are written when it exits (SIGTERM: gunicorn's worker_exit), the
fleet's audit key (named in the settings, never kept in the database) gives every replica the
same patient key and each call its fingerprint, and a call retried on the other replica is
counted once."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.fleet.conftest import postgres
from tests.fleet.processes import Postgres, service_environment, start_service
from tests.governance.conftest import fixture, request_for
from tests.served import CDS

pytestmark = pytest.mark.integration
__all__ = ["postgres"]  # the session's PostgreSQL cluster
SECRET = "fleet-audit-key-" + "k" * 32


def _post(base: str, name: str, hook_instance: str) -> list[dict[str, Any]]:
    response = requests.post(f"{base}/cds-services/deficiency-screen", json=request_for(name, hook_instance),
                             timeout=15)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def test_two_replicas_record_every_card_once_and_share_the_patient_key(
    postgres: Postgres, tmp_path: Path
) -> None:
    _name, url = postgres.new_database()
    env = {"CDS_DATABASE_URL": url, "CDS_AUDIT_FLUSH_S": "3600",  # only the exit writes
           "CDS_TOPIC_MODES": json.dumps({"twitching-workup": "silent"}),
           "CDS_AUDIT_SECRET": SECRET}  # a fleet names its key: never kept in the database  # fmt: skip
    upgrade = subprocess.run([str(CDS), "db", "upgrade"], env=service_environment(tmp_path, **env),
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert upgrade.returncode == 0, upgrade.stderr
    replicas = [start_service(tmp_path, f"replica-{i}", workers=2, **env) for i in range(2)]
    try:
        shown: dict[str, dict[str, Any]] = {}
        for i in range(6):
            base = replicas[i % 2].base
            for card in _post(base, "twitching-ppi-atc-no-labs", f"b0000000-0000-4000-8000-00000000000{i}"):
                shown[card["uuid"]] = card
        # the EHR retries the first call on the other replica: same cards, the same call
        retried = _post(replicas[1].base, "twitching-ppi-atc-no-labs", "b0000000-0000-4000-8000-000000000000")
        assert {c["uuid"] for c in retried} <= set(shown)
        with create_engine(url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM card_audit")).scalar_one() == 0  # still queued
    finally:
        for replica in replicas:
            replica.stop()  # SIGTERM: each worker writes its queue as it exits

    with create_engine(url).connect() as conn:
        audit = [dict(r) for r in conn.execute(text("SELECT * FROM card_audit")).mappings()]
    assert {r["card_uuid"] for r in audit if r["mode"] == "active"} == set(shown)
    assert sum(r["mode"] == "silent" for r in audit) == 6
    patient = fixture("twitching-ppi-atc-no-labs").request["context"]["patientId"]
    expected = hmac.new(SECRET.encode(), patient.encode(), hashlib.sha256).hexdigest()
    assert {r["patient_key"] for r in audit} == {expected}  # one patient, one key on both replicas
    with create_engine(url).connect() as conn:
        fingerprints = set(conn.execute(text("SELECT key_fingerprint FROM calls")).scalars())
        assert conn.execute(text("SELECT count(*) FROM site_secret")).scalar_one() == 0
    assert fingerprints == {hashlib.sha256(SECRET.encode()).hexdigest()[:8]}

    report = subprocess.run([str(CDS), "report", "--format", "json"],
                            env=service_environment(tmp_path, **env),
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["calls"] == 6
    topics = {t["topic"]: t for t in data["topics"]}
    assert topics["twitching-workup"]["silent"] == 6 and topics["twitching-workup"]["shown"] == 0
    assert sum(t["shown"] for t in data["topics"]) == len(shown)
