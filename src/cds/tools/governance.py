"""`cds report`: the committee's figures for a period; `cds db purge`: apply the retention now."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from cds.config import ConfigError, Settings, load_settings
from cds.governance.figures import as_csv, as_table, parse_bound
from cds.governance.recorder import purge_expired
from cds.governance.report_query import load_report
from cds.knowledge import load_knowledge
from cds.knowledge.version import UNVERSIONED
from cds.store.database import Database, open_database
from cds.store.governance import known_versions


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="cards shown, recorded silently, accepted and overridden, per service and topic"
    )
    report.add_argument("--since", help="start of the period: YYYY-MM-DD or an ISO 8601 instant (UTC)")
    report.add_argument("--until", help="end of the period, exclusive; a date includes that whole day")
    report.add_argument("--service", help="one service id (default: every service)")
    report.add_argument("--topic", help="one topic code (default: every topic)")
    report.add_argument(
        "--version",
        help="one knowledge version (`unversioned`: records kept before versions were; default: every "
        "version, each figure also split by version)",
    )
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    report.set_defaults(func=_report)


def register_purge(actions: Any) -> None:
    """`cds db purge`, added to the `cds db` command's actions."""
    purge = actions.add_parser("purge", help="delete audit, feedback and call records past retention_days")
    purge.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    purge.set_defaults(func=_purge)


def _open(args: argparse.Namespace, command: str) -> tuple[Settings, Database] | None:
    """The settings and the database, or None once the configuration error is on stderr."""
    try:
        settings = load_settings(args.config)
        return settings, open_database(settings)
    except ConfigError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None


def _report(args: argparse.Namespace) -> int:
    try:
        since = parse_bound(args.since) if args.since else None
        until = parse_bound(args.until, end=True) if args.until else None
    except ValueError as exc:
        print(f"cds report: {exc}", file=sys.stderr)
        return 2
    if since and until and since >= until:
        print("cds report: --since must be before --until", file=sys.stderr)
        return 2
    displays = {code: info.display for code, info in load_knowledge().topics.items()}
    if args.topic and args.topic not in displays:
        print(
            f"cds report: unknown topic {args.topic!r}; topics: {', '.join(sorted(displays))}",
            file=sys.stderr,
        )
        return 2
    opened = _open(args, "cds report")
    if opened is None:
        return 2
    settings, db = opened
    try:
        versions = {*known_versions(db), UNVERSIONED}
        if args.version and args.version not in versions:
            print(f"cds report: unknown knowledge version {args.version!r}; versions: "
                  f"{', '.join(sorted(versions))}", file=sys.stderr)  # fmt: skip
            return 2
        report = load_report(db, settings, since=since, until=until, service=args.service, topic=args.topic,
                             displays=displays, version=args.version)  # fmt: skip
    finally:
        db.dispose()
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "csv":
        sys.stdout.write(as_csv(report))
    else:
        sys.stdout.write(as_table(report))
    return 0


def _purge(args: argparse.Namespace) -> int:
    opened = _open(args, "cds db purge")
    if opened is None:
        return 2
    settings, db = opened
    try:
        if settings.retention_days <= 0:
            print("retention_days is 0: every record is kept, nothing deleted")
            return 0
        purged = purge_expired(db, settings.retention_days, datetime.now(UTC))  # needs no audit key
    finally:
        db.dispose()
    assert purged is not None
    print(
        f"deleted records older than {settings.retention_days} days: {purged.cards} cards, "
        f"{purged.feedback} feedback, {purged.calls} calls, {purged.shadow_calls} shadow pilot calls"
    )
    return 0
