"""The `cds` command: `cds serve` runs the service under gunicorn."""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cds.config import ConfigError, Settings, load_settings
from cds.logs import configure_logging, log_event
from cds.services import ServiceDefinitionError


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(args.config, **overrides)
        from cds.app import create_app

        app = create_app(settings)  # fails here, before forking, on a bad definition
    except (ConfigError, ServiceDefinitionError) as exc:
        print(f"cds: cannot start: {exc}", file=sys.stderr)
        return 2
    state = app.extensions["cds"]
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


class _StalledClientLine(logging.Filter):
    """gunicorn reports a read that timed out as an error with a traceback; it is only a
    client that stopped sending, so one warning line says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BlockingIOError | TimeoutError):
            record.msg, record.args = "client sent nothing for client_read_timeout_s; connection closed", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def limit_client_stalls(seconds: float) -> Callable[[Any], None]:
    """A gunicorn `when_ready` hook giving the listening sockets a receive timeout.

    Every accepted connection inherits SO_RCVTIMEO, so a blocking read from a client that
    stops sending (part of its headers, or of its body) fails after `seconds` instead of
    holding a worker thread for good: without it, as many stalled clients as there are
    threads stop the service. It is a socket option, so it bounds every read wherever it
    happens, in the server's header parsing as in the application's body read.
    """

    def when_ready(server: Any) -> None:
        if seconds <= 0:
            return
        logging.getLogger("gunicorn.error").addFilter(_StalledClientLine())
        whole = int(seconds)
        timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
        for listener in server.LISTENERS:
            getattr(listener, "sock", listener).setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)

    return when_ready


def _run_gunicorn(app: Any, settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    from cds.gunicorn_worker import worker_class

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
            self.cfg.set("when_ready", limit_client_stalls(settings.client_read_timeout_s))

        def load(self) -> Any:
            return app

    _Server().run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds", description="myelin-cds CDS Hooks service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the CDS Hooks service (gunicorn)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.set_defaults(func=_serve)

    _add_optional_commands(commands)
    return parser


def _add_optional_commands(commands: Any) -> None:
    """Commands whose modules register themselves (keeps `cds serve` import-light)."""
    from cds import recording, replay

    replay.register(commands)
    recording.register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
