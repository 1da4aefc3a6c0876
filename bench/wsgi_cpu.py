"""CPU time of one call made straight into a WSGI application, in process, with no server.

Run as a script it measures the service itself: `python bench/wsgi_cpu.py BODY_FILE RUNS`
prints `{"cpu_ms": ..., "package": ...}` for the `cds` package that comes first on the path, so
with `PYTHONPATH=<checkout>/src` the same virtualenv measures another checkout's service
(`run.py --baseline REF`). Only modules every version of the service has are imported here.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVICE_URL = "/cds-services/deficiency-screen"


def wsgi_environ(path: str, body: bytes) -> dict[str, Any]:
    """What gunicorn hands the application for one call (the body already in memory)."""
    return {
        "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8080", "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }  # fmt: skip


def best_cpu_ms(step: Callable[[], Any], runs: int) -> float:
    """CPU time of one `step` in ms: the best of three timed loops of `runs` steps."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(runs):
            step()
        best = min(best, (time.process_time() - started) * 1000 / runs)
    return best


def wsgi_cpu_ms(app: Any, path: str, body: bytes, runs: int) -> float:
    """CPU time of one call made straight into the WSGI application, no server (best of 3)."""
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        answer = app(wsgi_environ(path, body), start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()

    for _ in range(min(5, runs)):
        call()
    assert statuses[-1].startswith("200"), statuses[-1]
    return best_cpu_ms(call, runs)


def service_cpu_ms(body: bytes, runs: int) -> float:
    """The service as `cds serve` builds it (INFO logging, the log line written to /dev/null)."""
    import logging

    from cds.config import load_settings
    from cds.server.serve import tune_garbage_collection
    from cds.server.wsgi import build_app

    service = build_app(load_settings(environ={}, database_url="sqlite://"))
    handlers = [h for h in logging.getLogger("cds").handlers if isinstance(h, logging.StreamHandler)]
    tune_garbage_collection()
    with open(os.devnull, "w") as devnull:  # the log line is still formatted and written
        streams = [(handler, handler.setStream(devnull)) for handler in handlers]
        try:
            return wsgi_cpu_ms(service, SERVICE_URL, body, runs)
        finally:
            for handler, stream in streams:
                handler.setStream(stream)


def main() -> int:
    body, runs = Path(sys.argv[1]).read_bytes(), int(sys.argv[2])
    import cds

    print(json.dumps({"cpu_ms": service_cpu_ms(body, runs), "package": str(Path(cds.__file__).parent)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
