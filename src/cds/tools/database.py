"""`cds db upgrade` and `cds db current`: the schema of the configured database."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cds.config import ConfigError, load_settings
from cds.store.database import (
    Database,
    create_database_engine,
    database_url,
    first_line,
    head_revision,
    open_database,
)


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="the service's database: migrate it or show its revision")
    actions = db.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate the database to this version's schema")
    current = actions.add_parser("current", help="show the database's schema revision")
    for parser, run in ((upgrade, _upgrade), (current, _current)):
        parser.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
        parser.set_defaults(func=run)
    from cds.tools.governance import register_purge

    register_purge(actions)  # `cds db purge`: the retention applied now


def _upgrade(args: argparse.Namespace) -> int:
    try:
        db = open_database(load_settings(args.config), migrate=True)
    except ConfigError as exc:
        print(f"cds db upgrade: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"database {db.engine.url.render_as_string()} is at revision {db.current_revision()} (current)")
    finally:
        db.dispose()
    return 0


def _current(args: argparse.Namespace) -> int:
    """Prints the revision; exit 0 when it is this version's, 1 when `cds db upgrade` is due."""
    try:
        db = Database(create_database_engine(database_url(load_settings(args.config))))
    except ConfigError as exc:
        print(f"cds db current: {exc}", file=sys.stderr)
        return 2
    try:
        current = db.current_revision()
    except SQLAlchemyError as exc:
        print(f"cds db current: {db.engine.url.render_as_string()}: {first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    head = head_revision()
    state = "current" if current == head else "out of date: run `cds db upgrade`"
    print(f"database {db.engine.url.render_as_string()} is at revision {current or 'none'}; "
          f"this version needs {head} ({state})")
    return 0 if current == head else 1
