"""A real `cds serve` with two workers: /metrics adds up every worker's counts, and every
line on stderr, gunicorn's included, is JSON; the lines of a call carry its hookInstance."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.conftest import patient_view_request
from tests.served import Served, free_port, serve

SCREEN = "/cds-services/deficiency-screen"


# A FHIR server origin that is allowed but where nothing listens: a fallback that fails.
CLOSED_PORT = free_port()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    allowed = f"http://127.0.0.1:{CLOSED_PORT}"
    yield from serve(tmp_path_factory.mktemp("observe"), CDS_FHIR_ALLOWED_SERVERS=allowed)


def _call(base: str, index: int) -> int:
    body = patient_view_request(hookInstance=f"00000000-0000-4000-8000-{index:012d}")
    # A new connection per call, so the kernel hands calls to either worker.
    return requests.post(base + SCREEN, json=body, headers={"Connection": "close"}, timeout=10).status_code


def _pids_answering(served: Served) -> set[int]:
    return {e["pid"] for e in served.events() if e.get("event") == "request" and e.get("path") == SCREEN}


@pytest.mark.integration
def test_every_worker_counts_and_a_scrape_adds_them_up(served: Served) -> None:
    sent = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        while sent < 600 and len(_pids_answering(served)) < 2:
            statuses = list(pool.map(lambda i: _call(served.base, i), range(sent, sent + 30)))
            assert statuses == [200] * 30
            sent += 30
            time.sleep(0.05)  # the log lines are written after each answer
    assert len(_pids_answering(served)) == 2, "calls never reached the second worker"
    assert requests.get(served.base + "/cds-services/not-a-service", timeout=5).status_code == 405
    assert requests.post(served.base + "/cds-services/not-a-service", json={}, timeout=5).status_code == 404

    samples = served.samples()
    ok = frozenset({("endpoint", "call"), ("service", "deficiency-screen"), ("status", "200")})
    assert samples[("cds_requests_total", ok)] == sent
    latency = frozenset({("endpoint", "call"), ("service", "deficiency-screen")})
    assert samples[("cds_request_duration_seconds_count", latency)] == sent
    unknown = frozenset({("endpoint", "call"), ("service", "unknown"), ("status", "404")})
    assert samples[("cds_requests_total", unknown)] == 1
    assert not any("not-a-service" in value for _, labels in samples for _, value in labels)


@pytest.mark.integration
def test_every_stderr_line_is_json_and_a_calls_lines_carry_its_hook_instance(served: Served) -> None:
    closed = CLOSED_PORT
    instance = "5a4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
    body = patient_view_request(
        hookInstance=instance,
        prefetch={},
        fhirServer=f"http://127.0.0.1:{closed}/fhir",
        fhirAuthorization={
            "access_token": "t0k3n",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        },
    )
    assert requests.post(served.base + SCREEN, json=body, timeout=10).status_code == 412
    time.sleep(0.2)

    lines = served.lines()
    assert not any("t0k3n" in line for line in lines)
    events = []
    for line in lines:
        event = json.loads(line)  # fails on any line that is not JSON
        assert {"ts", "level", "event", "pid"} <= set(event), line
        events.append(event)
    gunicorn = [e for e in events if e.get("logger") == "gunicorn.error"]
    assert any(e["event"].startswith("Listening at") for e in gunicorn)
    assert sum(e["event"].startswith("Booting worker") for e in gunicorn) >= 2
    assert not any("ontrol socket" in e["event"] for e in gunicorn)  # off: one per host, unused
    assert not any(e.get("logger") == "gunicorn.access" for e in events)  # the app's line is the one

    mine = [e for e in events if e.get("hookInstance") == instance]
    assert {e["event"] for e in mine} >= {"fhir fallback", "request"}
    fallback = next(e for e in mine if e["event"] == "fhir fallback")
    assert fallback["failed"] and fallback["fetched"] == []
    # Lines of other calls never inherit this call's id (worker threads are reused).
    assert all(e.get("path") == SCREEN for e in mine if e["event"] == "request")


@pytest.mark.integration
def test_metrics_on_their_own_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    for served in serve(tmp_path, CDS_METRICS_PORT=str(metrics_port)):
        assert _call(served.base, 1) == 200
        assert requests.get(served.base + "/metrics", timeout=5).status_code == 404
        assert requests.get(served.metrics_url, timeout=5).headers.get("X-Content-Type-Options") == "nosniff"
        ok = frozenset({("endpoint", "call"), ("service", "deficiency-screen"), ("status", "200")})
        assert served.samples()[("cds_requests_total", ok)] == 1
