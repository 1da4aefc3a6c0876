"""`cds serve`: the service under gunicorn, with its worker and client-timeout settings."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Any

from cds.config import ConfigError, Settings, load_settings
from cds.logs import log_event
from cds.server.wsgi import build_app
from cds.services.definitions import ServiceDefinitionError
from cds.store.database import database_url, is_in_memory


def serve(args: argparse.Namespace) -> int:
    """`cds serve`: load and check everything, then fork the gunicorn workers."""
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(args.config, **overrides)
        check_shared_database(settings)
        app = build_app(settings)  # fails here, before forking, on a bad definition or schema
    except (ConfigError, ServiceDefinitionError) as exc:
        print(f"cds: cannot start: {exc}", file=sys.stderr)
        return 2
    state = app.extensions["cds"]
    state.database.dispose()  # workers open their own connections after the fork
    log_event(
        "service started",
        url=f"http://{_url_host(settings.host)}:{settings.port}/cds-services",
        services=sorted(state.services),
        security=state.authenticator.mode,
        accepts_unauthenticated_calls=state.authenticator.mode == "open",
        workers=settings.workers,
    )
    if state.authenticator.mode == "open":
        checked = "tokens that are sent are verified" if settings.issuers else "tokens are not verified"
        log_event(
            f"security: open mode, calls without a JWT are accepted and {checked} (local use only)",
            level=30,
        )
    tune_garbage_collection()  # before the fork, so every worker inherits it
    _run_gunicorn(app, settings)
    return 0


def check_shared_database(settings: Settings) -> None:
    """Every worker must see the same database: an in-memory one would give each worker its
    own record of used JWT ids (a token replayed on another worker would pass) and keep no
    feedback."""
    if is_in_memory(database_url(settings)):
        raise ConfigError(
            "setting 'database_url': an in-memory database is not shared by the workers; "
            "leave it empty for the embedded file or name a file or server database"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def tune_garbage_collection() -> None:
    """A call parses tens of thousands of short-lived JSON objects; with the default
    thresholds the collector runs many times per call and now and then scans the whole heap.
    Objects loaded at start-up (knowledge, schemas, Flask) are frozen out of every scan and
    young collections run less often: lower mean latency, no multi-millisecond spikes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def _run_gunicorn(app: Any, settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    from cds.server.gunicorn_worker import limit_client_stalls, worker_class

    class _Server(BaseApplication):
        def load_config(self) -> None:
            assert self.cfg is not None
            self.cfg.set("bind", f"{_url_host(settings.host)}:{settings.port}")
            self.cfg.set("workers", settings.workers)
            self.cfg.set("threads", settings.threads)
            self.cfg.set("worker_class", worker_class())
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("keepalive", 5)
            self.cfg.set("accesslog", None)
            self.cfg.set("loglevel", "warning")
            # Workers fork from a master that already loaded and validated everything.
            self.cfg.set("preload_app", True)
            # A worker leaving (restart, shutdown, timeout) writes its queued audit records first.
            self.cfg.set("worker_exit", lambda _server, _worker: app.extensions["cds"].audit.close())
            self.cfg.set(
                "when_ready",
                limit_client_stalls(settings.client_read_timeout_s, settings.client_request_deadline_s),
            )

        def load(self) -> Any:
            return app

    _Server().run()
