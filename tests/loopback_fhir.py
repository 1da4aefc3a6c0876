"""The loopback FHIR server (tests/fhirserver/server.mjs) and the Node processes tests start.

The FHIR fallback tests and the SMART rig both run the same server: `node_server` starts a
Node script that prints "LISTENING <port>", `FhirServer` seeds and inspects it through its
admin routes, and `resources_of` turns a prefetch into what an EHR's server would store.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from cds.tools.fixtures import Fixture, request_for

ROOT = Path(__file__).resolve().parents[1]
FHIR_DIR = ROOT / "tests" / "fhirserver"
STARTUP_TIMEOUT_S = 60


class RigError(RuntimeError):
    """A Node process did not start; the message says which and why."""


@contextmanager
def node_server(directory: Path, script: str, *args: str, needs: str = "") -> Iterator[int]:
    """A Node server that prints "LISTENING <port>"; yields the port, stops it on exit.
    `needs`: a package under node_modules without which the script cannot run."""
    node = shutil.which("node")
    if node is None:
        raise RigError("node (>= 20) is not installed")
    if not (directory / "node_modules" / needs).is_dir():
        raise RigError(f"{directory}/node_modules/{needs} is missing: run `make test-deps`")
    process = subprocess.Popen(
        [node, script, *args], cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None and process.stderr is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    try:
        try:
            first = lines.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            first = ""
        if not first.startswith("LISTENING "):
            process.kill()
            raise RigError(f"{script} did not start: {first!r} {process.stderr.read()[-2000:]}")
        yield int(first.split()[1])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def loopback_fhir(*args: str) -> Iterator[int]:
    """The loopback FHIR server started with `args` (`--token T` or `--open`); yields its port."""
    with node_server(FHIR_DIR, "server.mjs", *args, needs="@medplum/fhir-router") as port:
        yield port


def resources_of(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource a prefetch holds, as the EHR's server would store them (once each)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        items = (
            [e.get("resource") for e in value.get("entry") or ()]
            if value["resourceType"] == "Bundle"
            else [value]
        )
        for item in items:
            if isinstance(item, dict) and item.get("id") and item.get("resourceType") != "OperationOutcome":
                found[(item["resourceType"], item["id"])] = item
    return list(found.values())


@dataclass
class FhirServer:
    base: str  # FHIR base URL
    token: str

    def seed(self, resources: list[dict[str, Any]], *, reset: bool = False) -> None:
        if reset:
            requests.post(f"{self.base}/__admin/reset", timeout=10).raise_for_status()
        requests.post(f"{self.base}/__admin/seed", json=resources, timeout=30).raise_for_status()

    def seed_fixture(self, fixture: Fixture, now: datetime) -> dict[str, Any]:
        """Seed the fixture's resources with dates moved to `now`; returns its shifted request."""
        request = request_for(fixture, now)
        self.seed(resources_of(request["prefetch"]))
        return request

    def seen(self) -> dict[str, int]:
        """How many requests the server had, with and without the expected token."""
        return requests.get(f"{self.base}/__admin/seen", timeout=10).json()
