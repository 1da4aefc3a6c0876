"""The `cds` command: `cds serve` runs the service under gunicorn; the other commands (replay,
fhir-record, fhir-replay, db, report, knowledge) are registered by their modules in `cds.tools`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from cds.logs import configure_logging


def _serve(args: argparse.Namespace) -> int:
    from cds.server.serve import serve  # keeps the other commands free of gunicorn and Flask

    return serve(args)


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
    from cds.tools import database, fhir_recording, fixture_replay, governance, knowledge

    fixture_replay.register(commands)
    fhir_recording.register(commands)
    database.register(commands)
    governance.register(commands)
    knowledge.register(commands)


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
