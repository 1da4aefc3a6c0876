"""A real `cds serve` in a subprocess on free loopback ports, its output kept in a file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests

CDS = Path(sys.executable).with_name("cds")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cds_environment(directory: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its own CDS_/PROMETHEUS_ settings, data under `directory`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PROMETHEUS_"))}
    env["CDS_DATA_DIR"] = str(directory / "data")
    env.update(settings)
    return env


class Service:
    """One `cds serve` process (a replica)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log

    def events(self) -> list[dict]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Kill the master and its workers at once, as a lost machine would."""
        pids = self.worker_pids() if self.process.poll() is None else []
        for pid in [self.process.pid, *pids]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def start_serve(
    directory: Path,
    log: Path,
    env: dict[str, str],
    *,
    workers: int = 1,
    port: int | None = None,
    ready_url: str | None = None,
    stdout_to_log: bool = True,
    timeout_s: float = 30,
) -> Service:
    """`cds serve` started in `directory`, returned once `ready_url` (default /healthz) answers 200."""
    port = port or free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(CDS), "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out if stdout_to_log else subprocess.DEVNULL,
            stderr=out,
            cwd=directory,
        )
    service = Service(process, port, log)
    try:
        wait_until_ready(ready_url or f"{service.base}/healthz", process, log, timeout_s)
    except BaseException:
        service.stop()
        raise
    return service


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes] | None, log: Path, timeout_s: float = 30
) -> None:
    """Poll `url` until it answers 200; fail with the log if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise AssertionError(f"{url} did not become ready:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


class Served:
    def __init__(self, base: str, log_path: Path, metrics_url: str) -> None:
        self.base, self.log_path, self.metrics_url = base, log_path, metrics_url

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8").splitlines()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def samples(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        text = requests.get(self.metrics_url, timeout=5).text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def serve(tmp_path: Path, **env: str) -> Iterator[Served]:
    """Two workers, only stderr kept (every line a JSON event); ready once /metrics answers."""
    port = free_port()
    metrics_port = env.get("CDS_METRICS_PORT")
    base = f"http://127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else f"{base}/metrics"
    log_path = tmp_path / "stderr.log"
    service = start_serve(
        tmp_path,
        log_path,
        cds_environment(tmp_path, **env),
        workers=2,
        port=port,
        ready_url=metrics_url,
        stdout_to_log=False,
        timeout_s=20,
    )
    try:
        yield Served(base, log_path, metrics_url)
    finally:
        service.stop()
