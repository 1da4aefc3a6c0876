"""`cds serve`: the service under gunicorn, with its worker and client-timeout settings."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Any

from cds.answer.runtime import knowledge_for
from cds.config import ConfigError, Settings, load_settings
from cds.governance.audit_key import missing_key_problem
from cds.logs import log_event
from cds.server.observability import (
    NoAccessLog,
    gunicorn_log_config,
    prepare_metrics_dir,
    start_metrics_listener,
    worker_exit_hook,
)
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
        check_audit_key_setting(settings)
    except ConfigError as exc:
        print(f"cds: cannot start: {exc}", file=sys.stderr)
        return 2
    if settings.metrics_enabled:
        prepare_metrics_dir()  # before the app (and prometheus_client) is imported

    from cds.server.wsgi import build_app
    from cds.services.definitions import ServiceDefinitionError

    try:
        _check_knowledge(settings)
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
        metrics=_metrics_url(settings),
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


def _check_knowledge(settings: Settings) -> None:
    """Apply the cut-off overrides now (and load the knowledge once for every worker), so a
    bad override stops the start instead of failing the first call."""
    try:
        knowledge_for(settings)
    except ValueError as exc:
        raise ConfigError(f"setting 'cutoff_overrides': {exc}") from None


def check_shared_database(settings: Settings) -> None:
    """Every worker must see the same database: an in-memory one would give each worker its
    own record of used JWT ids (a token replayed on another worker would pass) and keep no
    feedback."""
    if is_in_memory(database_url(settings)):
        raise ConfigError(
            "setting 'database_url': an in-memory database is not shared by the workers; "
            "leave it empty for the embedded file or name a file or server database"
        )


def check_audit_key_setting(settings: Settings) -> None:
    """A fleet on PostgreSQL names its audit key (it is never kept in the database): said before
    the database is reached, so the one line is about the key."""
    problem = missing_key_problem(settings)
    if problem is not None:
        raise ConfigError(problem)


def _metrics_url(settings: Settings) -> str | None:
    if not settings.metrics_enabled:
        return None
    port = settings.metrics_port or settings.port
    return f"http://{_url_host(settings.host)}:{port}/metrics"


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
            self.cfg.set("accesslog", None)  # the app logs each request, with its hookInstance
            self.cfg.set("loglevel", settings.log_level.lower())
            self.cfg.set("logconfig_dict", gunicorn_log_config(settings.log_level))
            self.cfg.set("logger_class", NoAccessLog)
            if "control_socket_disable" in self.cfg.settings:
                # Recent gunicorn opens a control socket at one path per user by default: two
                # instances on a host would share it, and nothing here uses it.
                self.cfg.set("control_socket_disable", True)
            # A longer header (a large Authorization token too) is answered 431, as JSON.
            self.cfg.set("limit_request_field_size", settings.max_header_bytes)
            # Workers fork from a master that already loaded and validated everything.
            self.cfg.set("preload_app", True)
            # A worker leaving (restart, shutdown, timeout) writes its queued audit records first.
            self.cfg.set("worker_exit", lambda _server, _worker: app.extensions["cds"].audit.close())
            limit_stalls = limit_client_stalls(
                settings.client_read_timeout_s, settings.client_request_deadline_s
            )

            def when_ready(server: Any) -> None:
                limit_stalls(server)
                if settings.metrics_enabled and settings.metrics_port:
                    start_metrics_listener(settings.host, settings.metrics_port)

            self.cfg.set("when_ready", when_ready)
            if settings.metrics_enabled:
                self.cfg.set("child_exit", worker_exit_hook())

        def load(self) -> Any:
            return app

    _Server().run()
