"""A shadow pilot under the real deployment: gunicorn workers on two replicas sharing one
PostgreSQL, the pilot's thread started in each forked worker, its records written when the
worker exits, a call retried on the other replica assessed once, and the pilot started
without a restart by writing its file."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.fleet.conftest import postgres
from tests.fleet.processes import Postgres, service_environment, start_service
from tests.governance.conftest import request_for
from tests.served import CDS

pytestmark = pytest.mark.integration
__all__ = ["postgres"]  # the session's PostgreSQL cluster
B12 = "b12-deficiency-metformin-older-adult"


def _post(base: str, hook_instance: str) -> bytes:
    response = requests.post(
        f"{base}/cds-services/deficiency-screen", json=request_for(B12, hook_instance), timeout=15
    )
    assert response.status_code == 200, response.text
    return response.content


def _rows(url: str, sql: str) -> list[dict[str, Any]]:
    with create_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def test_two_replicas_pilot_a_candidate_written_as_each_worker_exits(
    postgres: Postgres, tmp_path: Path
) -> None:
    _name, url = postgres.new_database()
    candidate = tmp_path / "candidate.toml"  # not there yet: no pilot
    env = {"CDS_DATABASE_URL": url, "CDS_AUDIT_FLUSH_S": "3600", "CDS_SHADOW_CONFIG": str(candidate),
           "CDS_AUDIT_SECRET": "a" * 40}  # a fleet names its audit key  # fmt: skip
    upgrade = subprocess.run(
        [str(CDS), "db", "upgrade"],
        env=service_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    replicas = [start_service(tmp_path, f"replica-{i}", workers=2, **env) for i in range(2)]
    try:
        _post(replicas[0].base, "c0000000-0000-4000-8000-000000000000")  # no pilot yet
        candidate.write_text('knowledge_label = "lower B12"\n[cutoff_overrides]\nb12_total_deficient = 150\n')
        discovery = requests.get(f"{replicas[0].base}/cds-services", timeout=15).json()
        time.sleep(1.2)  # each worker looks at the file at most once a second
        for i in range(1, 7):
            _post(replicas[i % 2].base, f"c0000000-0000-4000-8000-00000000000{i}")
        _post(replicas[1].base, "c0000000-0000-4000-8000-000000000001")  # the EHR retries call 1 elsewhere
        assert requests.get(f"{replicas[0].base}/cds-services", timeout=15).json() == discovery
    finally:
        for replica in replicas:
            replica.stop()  # SIGTERM: each worker assesses and writes what it holds as it exits

    calls = _rows(url, "SELECT * FROM shadow_calls")
    assert sorted(r["hook_instance"][-1] for r in calls) == list("123456")  # call 0 came before the file
    assert all(r["changed"] == 1 for r in calls)  # the card quotes the cut-off: its wording changes
    [version] = {r["candidate_version"] for r in calls}
    noted = {r["version"]: r for r in _rows(url, "SELECT * FROM knowledge_versions")}
    assert noted[version]["label"] == "lower B12" and noted[version]["first_shadow"] is not None
    live = {r["knowledge_version"] for r in _rows(url, "SELECT * FROM calls")}
    assert live == {r["live_version"] for r in calls} and noted[live.pop()]["first_live"] is not None

    report = subprocess.run(
        [str(CDS), "report", "--format", "json"],
        env=service_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    [pilot] = json.loads(report.stdout)["shadow"]
    assert (pilot["calls"], pilot["changedCalls"], pilot["label"]) == (6, 6, "lower B12")
