"""The fleet under faults, measured: p95 of patient-view calls through nginx with one of two
replicas frozen (SIGSTOP) for 15 s, and how long after a 10 s PostgreSQL stop under load the
replicas are ready again. Loopback only; prints a markdown report, asserts nothing.

    .venv/bin/python bench/faults.py
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cds.config import load_settings  # noqa: E402
from cds.store.database import open_database  # noqa: E402
from cds.tools.fixtures import load_fixture, request_for  # noqa: E402
from tests.fleet.processes import nginx_in_front, postgres_cluster, start_service  # noqa: E402

CHART = load_fixture(ROOT / "fixtures" / "b12-deficiency-holotc-low.json")
PATH = "/cds-services/deficiency-screen"


def _call(base: str) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        status = requests.post(base + PATH, json={**request_for(CHART), "hookInstance": str(uuid.uuid4())},
                               timeout=30).status_code  # fmt: skip
    except requests.RequestException:
        status = 0
    return time.perf_counter() - started, status


def _load(base: str, seconds: float, clients: int = 4) -> list[tuple[float, int]]:
    results: list[tuple[float, int]] = []
    end = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < end:
            results.append(_call(base))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="cds-faults-"))
    with postgres_cluster() as postgres:
        _name, url = postgres.new_database()
        open_database(load_settings(environ={}, database_url=url), migrate=True).dispose()
        env = {"CDS_DATABASE_URL": url, "CDS_AUTH_MODE": "open", "CDS_AUDIT_SECRET": "s" * 40,
               "CDS_LOG_LEVEL": "WARNING"}  # fmt: skip
        replicas = [start_service(directory, f"r{n}", workers=1, **env) for n in (1, 2)]
        try:
            with nginx_in_front([r.port for r in replicas]) as nginx:
                _load(nginx.base, 3)  # warm up
                frozen = replicas[0]
                pids = [frozen.process.pid, *frozen.worker_pids()]
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                timer = threading.Timer(15, lambda: [os.kill(p, signal.SIGCONT) for p in pids])
                timer.start()
                during = _load(nginx.base, 15)
                timer.join()
                times = [t * 1000 for t, _ in during]
                ok = sum(1 for _, s in during if s == 200)
                print("| fault | calls | answered 200 | p50 (ms) | p95 (ms) | max (ms) |")
                print("|---|---|---|---|---|---|")
                print(f"| one of two replicas frozen 15 s | {len(during)} | {ok} | {_p(times, 50):.0f} "
                      f"| {_p(times, 95):.0f} | {max(times):.0f} |")

                stop_results: list[tuple[float, int]] = []
                loader = threading.Thread(target=lambda: stop_results.extend(_load(nginx.base, 14, 2)))
                loader.start()
                time.sleep(1)
                postgres.stop()
                time.sleep(10)
                postgres.start()
                back = time.monotonic()
                ready_after = {}
                while len(ready_after) < 2 and time.monotonic() - back < 60:
                    for n, replica in enumerate(replicas):
                        if n not in ready_after and requests.get(replica.base + "/readyz", timeout=5).ok:
                            ready_after[n] = time.monotonic() - back
                    time.sleep(0.05)
                loader.join()
                times = [t * 1000 for t, _ in stop_results]
                ok = sum(1 for _, s in stop_results if s == 200)
                print(f"| PostgreSQL stopped 10 s under load | {len(stop_results)} | {ok} "
                      f"| {_p(times, 50):.0f} | {_p(times, 95):.0f} | {max(times):.0f} |")
                print()
                print("Replicas ready again after PostgreSQL returned (s): "
                      + ", ".join(f"{v:.2f}" for v in ready_after.values()))
        finally:
            for replica in replicas:
                replica.stop()


if __name__ == "__main__":
    main()
