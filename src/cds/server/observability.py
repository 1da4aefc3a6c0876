"""What `cds serve` sets up so an operator can watch it: metrics shared by every worker and
JSON log lines from gunicorn as from the service.

Workers are separate processes, so each writes its counts to files in a directory that a
scrape reads and adds up (prometheus_client's multiprocess mode). The directory must be
known before prometheus_client is first imported, which is why `cds serve` calls
`prepare_metrics_dir` before it builds the app.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

from cds.errors import operation_outcome

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


NOSNIFF = ("X-Content-Type-Options", "nosniff")


def start_metrics_listener(host: str, port: int) -> Any:
    """/metrics on its own port, served by a thread of the gunicorn master (not a worker), so
    scrapes never queue behind calls and the port can be firewalled apart from the API. Every
    answer says nosniff, as the service's own do. Returns the server (tests shut it down)."""
    import socket
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app, multiprocess
    from prometheus_client.exposition import ThreadingWSGIServer

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            return start_response(status, [*headers, NOSNIFF], *exc_info)

        return exposition(environ, start)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not logged
            return None

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """The HTTP server's own refusals (a malformed or overlong request line) as an
            OperationOutcome like the service's, never its HTML page; the request is not echoed."""
            phrase = self.responses.get(code, ("Error",))[0]
            outcome = operation_outcome(f"the metrics listener could not read the request ({code} {phrase})",
                                        code="processing")  # fmt: skip
            body = json.dumps(outcome).encode()
            self.close_connection = True
            self.request_version = "HTTP/1.0"  # a status line and headers even to a malformed request
            self.send_response(code, phrase)
            for header in (("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                           ("Connection", "close"), NOSNIFF):  # fmt: skip
                self.send_header(*header)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    server = make_server(host, port, app, Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-listener", daemon=True).start()
    return server


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
