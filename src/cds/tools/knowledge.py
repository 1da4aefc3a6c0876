"""`cds knowledge show` and `cds knowledge diff`: the effective rules, and what a change would do.

`show` prints the rules a configuration runs as a committee reads them. `diff` lists what would
change from one configuration (or saved snapshot) to another. Exit codes, as `cds replay`:
0 done (diff: the two build the same cards), 1 diff found a change to the cards, 2 a usage
error (unreadable or invalid configuration or snapshot), one line on stderr naming it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cds.change.candidate import candidate_settings
from cds.change.rules import Change, Rules, diff_rules, effective_rules, rules_from_json
from cds.config import ConfigError, Settings, load_settings

_CERTAINTY = "certainty: V verified in a source, S secondary sources only, U unverified"


class UsageError(Exception):
    """Something the user must fix (exit 2)."""


@dataclass(frozen=True)
class Side:
    rules: Rules
    source: str  # where it came from, for the reader


def _rules(settings: Settings) -> Rules:
    try:
        return effective_rules(settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _running(config: str | None = None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _candidate(live: Settings) -> Side:
    if not live.shadow_config:
        raise UsageError("--shadow: setting 'shadow_config' is not set in the running configuration")
    try:
        return Side(_rules(candidate_settings(live, live.shadow_config)), f"candidate {live.shadow_config}")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _snapshot(path: str) -> Side:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise UsageError(f"snapshot {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"snapshot {path}: not JSON ({exc})") from None
    try:
        return Side(rules_from_json(data), f"snapshot {path}")
    except ValueError as exc:
        raise UsageError(f"snapshot {path}: {exc}") from None


def _side(kind: str, value: str | None) -> Side:
    if kind == "config":
        return Side(_rules(_running(value)), f"config {value}")
    if kind == "snapshot":
        assert value is not None
        return _snapshot(value)
    return _candidate(_running())


# --------------------------------------------------------------------------- text
def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (header, *rows)]


def _name(rules: Rules) -> str:
    return f"{rules.version} ({rules.label})" if rules.label else rules.version


def show_text(side: Side) -> str:
    rules = side.rules
    lines = [f"Knowledge version {_name(rules)}, from the {side.source}", "", "Cut-offs (* the site's value)"]
    lines += _columns(
        ("cut-off", "value", "unit", "reviewed", "source", "certainty"),
        [
            (
                c.key,
                _number(c.value) + (" *" if c.overridden else ""),
                c.unit,
                _number(c.reviewed),
                c.source,
                c.certainty,
            )
            for c in rules.cutoffs.values()
        ],
    )
    lines += ["", "Topics"]
    lines += _columns(
        ("topic", "name", "mode", "certainty"),
        [(t.code, t.display, t.mode, t.certainty) for t in rules.topics.values()],
    )
    lines += ["", "Value sets and medication classes"]
    lines += _columns(
        ("key", "kind", "name", "members", "codes", "source"),
        [
            (s.key, s.kind, s.display, str(s.members), str(len(s.codes)), s.source)
            for s in rules.code_sets.values()
        ],
    )
    others = {k: v for k, v in rules.settings.items() if k not in ("cutoff_overrides", "topic_modes")}
    if others:
        lines += [
            "",
            "Other settings that change cards: " + ", ".join(f"{k} = {v}" for k, v in others.items()),
        ]
    lines += ["", _CERTAINTY + "."]
    return "\n".join(lines) + "\n"


def _codes(codes: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(codes[:limit])
    return shown + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def change_text(change: Change) -> list[str]:
    if change.kind == "cutoff":
        return [f"cut-off {change.key}: {_number(change.before)} -> {_number(change.after)} {change.unit}"]
    if change.kind == "mode":
        return [f"mode of {change.key}: {change.before or '(none)'} -> {change.after or '(none)'}"]
    if change.kind == "codes":
        lines = [f"codes of {change.key}: {len(change.added)} added, {len(change.removed)} removed"]
        if change.added:
            lines.append(f"  added: {_codes(change.added)}")
        if change.removed:
            lines.append(f"  removed: {_codes(change.removed)}")
        return lines
    if change.kind == "knowledge":
        return [f"knowledge files: content {change.before} -> {change.after}"]
    if change.kind == "label":
        return [f"label: {_label(change.before)} -> {_label(change.after)}"]
    return [f"setting {change.key}: {change.before} -> {change.after}"]


def _label(text: str) -> str:
    return repr(text) if text else "(none)"


def diff_text(before: Side, after: Side, changes: Sequence[Change]) -> str:
    lines = [
        f"From {_name(before.rules)} ({before.source})",
        f"  to {_name(after.rules)} ({after.source})",
        "",
    ]
    for change in changes:
        lines += change_text(change)
    changes_cards = before.rules.version != after.rules.version
    verdict = "the cards would change" if changes_cards else "the same cards"
    lines += ["" if changes else "No differences.", f"{len(changes)} difference(s); {verdict}."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- commands
def _show(args: argparse.Namespace) -> int:
    try:
        if args.shadow:
            side = _candidate(_running(args.config))
        else:
            side = Side(
                _rules(_running(args.config)),
                f"config {args.config}" if args.config else "running configuration",
            )
    except UsageError as exc:
        print(f"cds knowledge show: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        sys.stdout.write(
            json.dumps({**side.rules.as_json(), "from": side.source}, indent=2, ensure_ascii=False) + "\n"
        )
    else:
        sys.stdout.write(show_text(side))
    return 0


def _diff(args: argparse.Namespace) -> int:
    sides: list[tuple[str, str | None]] = args.sides or []
    try:
        if len(sides) > 2:
            raise UsageError("give at most two of --config, --snapshot and --shadow")
        if not sides:  # the reviewed rules as shipped against what the site runs
            before = Side(_rules(Settings()), "reviewed defaults, no site settings")
            after = Side(_rules(_running()), "running configuration")
        elif len(sides) == 1:
            before = Side(_rules(_running()), "running configuration")
            after = _side(*sides[0])
        else:
            before, after = _side(*sides[0]), _side(*sides[1])
    except UsageError as exc:
        print(f"cds knowledge diff: {exc}", file=sys.stderr)
        return 2
    changes = diff_rules(before.rules, after.rules)
    changes_cards = before.rules.version != after.rules.version
    if args.format == "json":
        payload: dict[str, Any] = {
            "from": {"version": before.rules.version, "label": before.rules.label, "source": before.source},
            "to": {"version": after.rules.version, "label": after.rules.label, "source": after.source},
            "changesCards": changes_cards,
            "changes": [c.as_json() for c in changes],
        }
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(diff_text(before, after, changes))
    return 1 if changes_cards else 0


class _AddSide(argparse.Action):
    """Keeps --config, --snapshot and --shadow in the order given: the first is the 'from' side."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        sides = list(getattr(namespace, self.dest, None) or [])
        sides.append((self.const, values))
        setattr(namespace, self.dest, sides)


def register(commands: Any) -> None:
    knowledge = commands.add_parser("knowledge", help="the effective rules, and what a change would do")
    actions = knowledge.add_subparsers(dest="action", required=True)

    show = actions.add_parser(
        "show",
        help="the rules a configuration runs: cut-offs, topic modes, value sets",
        description="Print the effective rules: each cut-off with its value, unit, source and certainty "
        "mark, each topic with its mode, each value set and medication class with its size and source, "
        "and the knowledge version. --format json is a snapshot `cds knowledge diff --snapshot` reads. "
        "Exit 0, or 2 on a usage error.",
    )
    show.add_argument("--config", help="TOML configuration file (default: $CDS_CONFIG)")
    show.add_argument("--shadow", action="store_true", help="the candidate that shadow_config names")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(func=_show)

    diff = actions.add_parser(
        "diff",
        help="what would change from one configuration to another",
        description="List what changes between two sides: cut-offs, topic modes, other card settings, "
        "codes added or removed. A side is --config FILE (read as `cds serve --config FILE` would, "
        "CDS_* variables included), --snapshot FILE (saved by `cds knowledge show --format json`) or "
        "--shadow (the running configuration's shadow pilot candidate). Two sides: from the first to "
        "the second; one: from the running configuration to it; none: from the reviewed defaults to "
        "the running configuration. Exit 0 when both build the same cards (same knowledge version), "
        "1 when the cards would change, 2 on a usage error.",
    )
    diff.add_argument(
        "--config",
        dest="sides",
        action=_AddSide,
        const="config",
        metavar="FILE",
        help="a configuration file as one side",
    )
    diff.add_argument(
        "--snapshot",
        dest="sides",
        action=_AddSide,
        const="snapshot",
        metavar="FILE",
        help="a snapshot as one side",
    )
    diff.add_argument(
        "--shadow",
        dest="sides",
        action=_AddSide,
        const="shadow",
        nargs=0,
        help="the shadow pilot's candidate as one side",
    )
    diff.add_argument("--format", choices=("table", "json"), default="table")
    diff.set_defaults(func=_diff)
