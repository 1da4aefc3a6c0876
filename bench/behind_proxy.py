"""Do the direct-exposure protections still matter behind nginx? Prints a markdown table.

For four set-ups (cds serve with its slow-client protections, or plain gunicorn gthread
without them; each directly exposed or behind deploy/nginx.conf) it times a normal call
alone, then while 15 slow or silent clients hold connections: 5 connect and send nothing,
5 stop in the middle of their headers, 5 trickle their body one byte a second.

Run: `.venv/bin/python bench/behind_proxy.py` (needs nginx; scripts/install-test-deps.sh).
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.conftest import patient_view_request  # noqa: E402
from tests.fleet.processes import nginx_in_front, service_environment  # noqa: E402
from tests.served import CDS, free_port, wait_until_ready  # noqa: E402

PATH = "/cds-services/deficiency-screen"
BODY = json.dumps(patient_view_request()).encode()
GUNICORN = CDS.with_name("gunicorn")


@contextmanager
def backend(protected: bool, directory: Path) -> Iterator[int]:
    port = free_port()
    if protected:
        command = [str(CDS), "serve", "--port", str(port)]
    else:  # gunicorn's own threaded worker, same workers and threads, no read limits
        command = [str(GUNICORN), "-k", "gthread", "-w", "2", "--threads", "2", "--keep-alive", "5",
                   "-b", f"127.0.0.1:{port}", "cds.server.wsgi:app_from_environment()"]
    log = directory / f"backend-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=service_environment(directory, CDS_LOG_LEVEL="WARNING"),
                                   stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/healthz", process, log)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def call_ms(port: int, timeout: float = 30.0) -> float:
    started = time.perf_counter()
    try:
        response = requests.post(f"http://127.0.0.1:{port}{PATH}", data=BODY, timeout=timeout,
                                 headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.status_code
    except requests.Timeout:
        return float("inf")
    return (time.perf_counter() - started) * 1000


@contextmanager
def slow_clients(port: int) -> Iterator[None]:
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode()
    socks: list[socket.socket] = []
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        with suppress(OSError):
            sock.sendall(head)
            for byte in BODY:
                if stop.wait(1.0):
                    return
                sock.send(bytes([byte]))

    threads = []
    for n in range(15):
        sock = socket.create_connection(("127.0.0.1", port))
        socks.append(sock)
        if n % 3 == 1:
            sock.sendall(head[:25])
        elif n % 3 == 2:
            threads.append(threading.Thread(target=trickle, args=(sock,), daemon=True))
            threads[-1].start()
    time.sleep(0.5)
    try:
        yield
    finally:
        stop.set()
        for sock in socks:
            sock.close()


def measure(port: int) -> tuple[float, float]:
    for _ in range(5):
        call_ms(port)  # warm up
    alone = statistics.median(call_ms(port) for _ in range(30))
    with slow_clients(port):
        during = max(call_ms(port) for _ in range(3))
    time.sleep(1)
    return alone, during


def main() -> int:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for protected in (True, False):
            name = "cds serve (protections on)" if protected else "gunicorn gthread (protections off)"
            with backend(protected, directory) as port:
                rows.append((name, "direct", *measure(port)))
                with nginx_in_front([port]) as nginx:
                    rows.append((name, "behind nginx", *measure(nginx.port)))
    print("| server | exposure | median call alone (ms) | slowest of 3 calls with 15 slow clients (ms) |")
    print("|---|---|---|---|")
    for name, exposure, alone, during in rows:
        shown = "no answer in 30 s" if during == float("inf") else f"{during:.0f}"
        print(f"| {name} | {exposure} | {alone:.1f} | {shown} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
