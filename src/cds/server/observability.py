"""What `cds serve` sets up so an operator can watch it: metrics shared by every worker and
JSON log lines from gunicorn as from the service.

Workers are separate processes, so each writes its counts to files in a directory that a
scrape reads and adds up (prometheus_client's multiprocess mode). The directory must be
known before prometheus_client is first imported, which is why `cds serve` calls
`prepare_metrics_dir` before it builds the app.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the name prometheus_client reads


def prepare_metrics_dir() -> Path:
    """An empty directory for the workers' metric files, named in the environment.

    An operator's PROMETHEUS_MULTIPROC_DIR is used (and emptied: counts start at zero with the
    service, as Prometheus expects after a restart); otherwise a private temporary directory
    is made and removed when the server exits.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="cds-metrics-"))
        owner = os.getpid()
        # Workers are forked from this process and inherit the hook: only the master removes it.
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
        os.environ[MULTIPROC_ENV] = str(path)
    if "prometheus_client.values" in sys.modules:
        # Imported before the directory was known (an embedding program): pick the mode again.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()
    return path


def worker_exit_hook() -> Callable[[Any, Any], None]:
    """gunicorn `child_exit`: a worker that ended is marked dead for the multiprocess collector."""
    from cds.observe.metrics import mark_worker_exit

    def child_exit(_server: Any, worker: Any) -> None:
        mark_worker_exit(worker.pid)

    return child_exit


def start_metrics_listener(host: str, port: int) -> None:
    """/metrics on its own port, served by a thread of the gunicorn master (not a worker), so
    scrapes never queue behind calls and the port can be firewalled apart from the API."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=host, registry=registry)


class NoAccessLog(Logger):
    """gunicorn's logger without its access log: the app writes one JSON line per request
    with its hookInstance. gunicorn counts its access log as on whenever a logging config is
    given, and would then work out every request's log fields only to drop them."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


def gunicorn_log_config(level: str) -> dict[str, Any]:
    """logconfig_dict for gunicorn: its lines (and any library's) as JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cds.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            # The app writes one line per request with its hookInstance; gunicorn's would repeat it.
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }
