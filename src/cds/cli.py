"""The `cds` command: `cds serve` runs the service under gunicorn."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
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


def _run_gunicorn(app: Any, settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication

    from cds.gunicorn_worker import limit_client_stalls, worker_class

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
            self.cfg.set(
                "when_ready",
                limit_client_stalls(settings.client_read_timeout_s, settings.client_request_deadline_s),
            )

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
