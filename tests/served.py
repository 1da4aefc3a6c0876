"""A real `cds serve` in a subprocess on free loopback ports, its stderr kept in a file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

CDS = Path(sys.executable).with_name("cds")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    port = free_port()
    log_path = tmp_path / "stderr.log"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "PROMETHEUS_"))}
    environ.update(CDS_DATA_DIR=str(tmp_path / "data"), **env)
    metrics_port = env.get("CDS_METRICS_PORT")
    base = f"http://127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else f"{base}/metrics"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(CDS), "serve", "--port", str(port), "--workers", "2"],
            env=environ, stdout=subprocess.DEVNULL, stderr=log, cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(metrics_url, timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"cds serve did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield Served(base, log_path, metrics_url)
    finally:
        process.terminate()
        process.wait(timeout=15)
