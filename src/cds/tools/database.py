"""`cds db upgrade` and `cds db current`: the schema of the configured database;
`cds db move-audit-key`: an earlier version's audit key, out of the database into a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cds.config import ConfigError, load_settings
from cds.governance.audit_key import key_fingerprint, move_stored_key
from cds.store.database import (
    Database,
    create_database_engine,
    database_url,
    first_line,
    head_revision,
    open_database,
)
from cds.store.governance import stored_key


def register(commands: Any) -> None:
    db = commands.add_parser("db", help="the service's database: migrate it or show its revision")
    actions = db.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="migrate the database to this version's schema")
    current = actions.add_parser("current", help="show the database's schema revision")
    move = actions.add_parser(
        "move-audit-key",
        help="move the audit key an earlier version kept in the database into a file (for audit_secret_file)",
    )
    move.add_argument("--to", required=True, metavar="FILE", help="the key file to write (mode 0600)")
    for parser, run in ((upgrade, _upgrade), (current, _current), (move, _move_audit_key)):
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
    print(
        f"database {db.engine.url.render_as_string()} is at revision {current or 'none'}; "
        f"this version needs {head} ({state})"
    )
    return 0 if current == head else 1


def _move_audit_key(args: argparse.Namespace) -> int:
    """Exit 0 once the key is in the file and gone from the database, 1 when the database holds
    none, 2 on a configuration error or a file that holds another key."""
    try:
        db = open_database(load_settings(args.config))
    except ConfigError as exc:
        print(f"cds db move-audit-key: {exc}", file=sys.stderr)
        return 2
    try:
        stored = stored_key(db)
        if stored is None:
            print("the database holds no audit key: nothing to move")
            return 1
        path = Path(args.to).expanduser()
        secret = move_stored_key(db, stored, path)
    except ConfigError as exc:
        print(f"cds db move-audit-key: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"audit key {key_fingerprint(secret)} moved to {path} and deleted from the database; set "
          f"audit_secret_file = {str(path)!r} (CDS_AUDIT_SECRET_FILE) on every replica")  # fmt: skip
    return 0
