"""`cds replay`: send FHIR fixtures as hook requests and diff the cards against goldens.

Exit codes: 0 every fixture matches its golden, 1 any mismatch, 2 usage error (unreadable
fixture, bad JSON, unreachable service). Heavy imports (Flask app, requests) happen only when
the command runs, so `cds serve` stays light.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Code systems whose code names a suggested resource in a golden file.
_SUGGESTION_SYSTEMS = ("http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm")


class UsageError(Exception):
    """Something the user must fix before replay can run (exit 2)."""


# --------------------------------------------------------------------------- golden form
def _resource_code(resource: dict[str, Any]) -> str | None:
    concept = resource.get("code") or resource.get("medicationCodeableConcept")
    if not isinstance(concept, dict):
        return None
    codings = [c for c in concept.get("coding") or () if isinstance(c, dict) and c.get("code")]
    for system in _SUGGESTION_SYSTEMS:
        for coding in codings:
            if coding.get("system") == system:
                return str(coding["code"])
    return str(codings[0]["code"]) if codings else None


def suggestion_code(suggestion: dict[str, Any]) -> str:
    """The code of the resource a suggestion would create (LOINC of a test, RxNorm of a drug)."""
    codes = []
    for action in suggestion.get("actions") or ():
        if isinstance(action, dict) and action.get("type") == "delete":
            codes.append(f"delete:{action.get('resourceId')}")  # a removal names the draft order
            continue
        resource = action.get("resource") if isinstance(action, dict) else None
        if isinstance(resource, dict):
            code = _resource_code(resource)
            if code:
                codes.append(code)
    if codes:
        return "+".join(codes)
    return "label:" + str(suggestion.get("label", ""))


def card_topic(card: dict[str, Any]) -> str | None:
    topic = (card.get("source") or {}).get("topic")
    return topic.get("code") if isinstance(topic, dict) else None


def golden_form(response: dict[str, Any]) -> dict[str, Any]:
    """What a golden file records of a response: topic, indicator and suggestion codes per card."""
    return {
        "cards": [
            {
                "topic": card_topic(card),
                "indicator": card.get("indicator"),
                "suggestions": [suggestion_code(s) for s in card.get("suggestions") or ()],
            }
            for card in response.get("cards") or ()
            if isinstance(card, dict)
        ]
    }


# --------------------------------------------------------------------------- diff
def _keyed(cards: Sequence[dict[str, Any]]) -> list[tuple[tuple[str, int], dict[str, Any]]]:
    """Key each card by topic and occurrence so duplicate topics still pair up in order."""
    seen: Counter[str] = Counter()
    keyed = []
    for card in cards:
        topic = str(card.get("topic"))
        keyed.append(((topic, seen[topic]), card))
        seen[topic] += 1
    return keyed


def _suggestion_diff(topic: str, expected: list[str], actual: list[str]) -> list[str]:
    if expected == actual:
        return []
    missing = list((Counter(expected) - Counter(actual)).elements())
    extra = list((Counter(actual) - Counter(expected)).elements())
    lines = []
    if missing:
        lines.append(f"card {topic}: missing suggestion(s) {', '.join(missing)}")
    if extra:
        lines.append(f"card {topic}: extra suggestion(s) {', '.join(extra)}")
    if not missing and not extra:
        lines.append(f"card {topic}: suggestion order changed: expected {expected}, got {actual}")
    return lines


def diff_cards(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable differences between two golden-form responses; empty when they match."""
    exp = _keyed(expected.get("cards") or [])
    act = _keyed(actual.get("cards") or [])
    exp_map, act_map = dict(exp), dict(act)
    lines: list[str] = []
    for key, card in exp:
        if key not in act_map:
            lines.append(f"missing card {key[0]} ({card.get('indicator')})")
    for key, card in act:
        if key not in exp_map:
            lines.append(f"extra card {key[0]} ({card.get('indicator')})")
    for key, want in exp:
        got = act_map.get(key)
        if got is None:
            continue
        if want.get("indicator") != got.get("indicator"):
            lines.append(
                f"card {key[0]}: indicator expected {want.get('indicator')}, got {got.get('indicator')}"
            )
        lines.extend(
            _suggestion_diff(key[0], list(want.get("suggestions") or []), list(got.get("suggestions") or []))
        )
    common_exp = [k for k, _ in exp if k in act_map]
    common_act = [k for k, _ in act if k in exp_map]
    if common_exp != common_act:
        lines.append(
            f"card order changed: expected {[k[0] for k in common_exp]}, got {[k[0] for k in common_act]}"
        )
    return lines


# --------------------------------------------------------------------------- running
@dataclass
class ReplayResult:
    name: str
    description: str
    intent_topics: tuple[str, ...]
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)
    actual: dict[str, Any] = field(default_factory=lambda: {"cards": []})
    expected: dict[str, Any] | None = None
    differences: list[str] = field(default_factory=list)
    error: str | None = None
    updated: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences and self.error is None

    @property
    def actual_topics(self) -> list[str]:
        return [str(c.get("topic")) for c in self.actual["cards"]]

    def to_json(self) -> dict[str, Any]:
        return {
            "fixture": self.name,
            "ok": self.ok,
            "status": self.status,
            "error": self.error,
            "differences": self.differences,
            "expected": self.expected,
            "actual": self.actual,
            "intentTopics": list(self.intent_topics),
            "updated": self.updated,
            "cards": self.response.get("cards", []),
        }


Sender = Callable[[Any], tuple[int, Any]]  # fixture -> (HTTP status, decoded JSON body)


def in_process_sender(config: str | None = None) -> Sender:
    """Call the app through Flask's test client with its clock pinned to each fixture's now."""
    from cds.config import load_settings
    from cds.http.app import create_app

    # Replay checks the clinical output: no stored feedback, no token needed, quiet logs.
    settings = load_settings(
        config, database_url="sqlite://", auth_mode="open", issuers=(), log_level="WARNING"
    )
    pinned: list[datetime] = [datetime.now(UTC)]
    client = create_app(settings, clock=lambda: pinned[0]).test_client()

    def send(fixture: Any) -> tuple[int, Any]:
        pinned[0] = fixture.now
        response = client.post(f"/cds-services/{fixture.service}", json=fixture.request)
        return response.status_code, response.get_json(silent=True)

    return send


def http_sender(url: str, timeout_s: float, token: str | None = None) -> Sender:
    """POST to a running service, with every date moved so the fixture's now becomes today."""
    import requests

    from cds.tools.fixtures import request_for

    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def send(fixture: Any) -> tuple[int, Any]:
        body = request_for(fixture, datetime.now(UTC))
        target = f"{url.rstrip('/')}/cds-services/{fixture.service}"
        try:
            response = session.post(target, json=body, timeout=timeout_s, headers=headers)
        except requests.RequestException as exc:
            raise UsageError(f"cannot reach {target}: {type(exc).__name__}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    return send


def _error_text(status: int, body: Any) -> str:
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        return f"HTTP {status}: {issues[0].get('diagnostics', 'error')}"
    return f"HTTP {status}: response is not a CDS Hooks card list"


def replay_fixture(fixture: Any, send: Sender, *, update: bool = False) -> ReplayResult:
    from cds.tools.fixtures import FixtureError

    result = ReplayResult(fixture.name, fixture.description, fixture.intent_topics)
    status, body = send(fixture)
    result.status = status
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        result.error = _error_text(status, body)
        return result
    result.response = body
    result.actual = golden_form(body)
    if update:
        fixture.golden_path.write_text(json.dumps(result.actual, indent=2) + "\n", encoding="utf-8")
        result.expected = result.actual
        result.updated = True
        return result
    try:
        result.expected = fixture.load_golden()
    except FixtureError as exc:
        result.error = str(exc)
        return result
    if result.expected is None:
        result.error = f"no golden file {fixture.golden_path.name}; review the cards, then run with --update"
        return result
    result.differences = diff_cards(result.expected, result.actual)
    return result


# --------------------------------------------------------------------------- terminal output
class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_INDICATOR_COLOUR = {"critical": "1;31", "warning": "33", "info": "36"}


def _unescape(text: str) -> str:
    """Drop markdown backslash escapes ("\\<" -> "<") for plain terminal text."""
    return _ESCAPED.sub(r"\1", text)


def _table_rows(markdown: str, limit: int = 6) -> list[str]:
    """Condense the markdown tables of a card's detail into one line per row."""
    rows = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if not stripped.startswith("|") or set(stripped) <= set("|-: "):
            continue
        cells = [_unescape(c.strip().replace("**", "")) for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
        rows.append(" | ".join(c for c in cells if c))
    if len(rows) > limit:
        rows = [*rows[:limit], f"... {len(rows) - limit} more rows"]
    return rows


def render_text(result: ReplayResult, style: _Style) -> str:
    mark = style("PASS", "32") if result.ok else style("FAIL", "1;31")
    if result.updated:
        mark = style("UPDATED", "35")
    lines = [f"{mark} {style(result.name, '1')}", f"  {result.description}"]
    if result.error:
        lines.append(f"  error: {result.error}")
    for card in result.response.get("cards", []):
        indicator = str(card.get("indicator", "?"))
        label = style(f"[{indicator.upper()}]", _INDICATOR_COLOUR.get(indicator, "0"))
        lines.append(f"  {label} {card.get('summary', '')}  ({card_topic(card)})")
        for row in _table_rows(str(card.get("detail", ""))):
            lines.append(f"      {row}")
        for suggestion in card.get("suggestions") or ():
            recommended = " (recommended)" if suggestion.get("isRecommended") else ""
            code = suggestion_code(suggestion)
            lines.append(f"      -> {suggestion.get('label', '')} [{code}]{recommended}")
    if not result.response.get("cards") and not result.error:
        lines.append("  (no cards)")
    for difference in result.differences:
        lines.append("  " + style(f"differs: {difference}", "31"))
    if not result.error and sorted(result.intent_topics) != sorted(result.actual_topics):
        lines.append(
            f"  note: intended topics {sorted(result.intent_topics)}, got {sorted(result.actual_topics)}"
        )
    return "\n".join(lines)


def render_cards(response: dict[str, Any]) -> str:
    """The cards in full, as the EHR received them (JSON), for reading or piping to jq."""
    cards = json.dumps(response.get("cards", []), indent=2, ensure_ascii=False)
    return "\n".join("    " + line for line in cards.splitlines())


# --------------------------------------------------------------------------- command
def run(
    targets: Iterable[str],
    *,
    url: str | None = None,
    update: bool = False,
    output_format: str = "text",
    config: str | None = None,
    timeout_s: float = 10.0,
    token: str | None = None,
    show_cards: bool = False,
    out: Any = None,
) -> int:
    from cds.tools.fixtures import FixtureError, fixture_paths, load_fixture

    out = out or sys.stdout
    try:
        fixtures = [load_fixture(p) for p in fixture_paths(list(targets))]
        if not fixtures:
            raise UsageError("no fixtures found")
        send = http_sender(url, timeout_s, token) if url else in_process_sender(config)
        results = [replay_fixture(f, send, update=update) for f in fixtures]
    except (FixtureError, UsageError) as exc:
        print(f"cds replay: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # e.g. a bad config file: one clear line, no traceback
        print(f"cds replay: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    failed = sum(not r.ok for r in results)
    if output_format == "json":
        payload = {
            "passed": len(results) - failed,
            "failed": failed,
            "results": [r.to_json() for r in results],
        }
        out.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        style = _Style(bool(getattr(out, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ)
        for result in results:
            out.write(render_text(result, style) + "\n\n")
            if show_cards and result.response:
                out.write(render_cards(result.response) + "\n\n")
        verb = "updated" if update else "passed"
        out.write(f"{len(results) - failed} {verb}, {failed} failed, {len(results)} fixtures\n")
    return 1 if failed else 0


def _command(args: Any) -> int:
    return run(
        args.fixtures,
        url=args.url,
        update=args.update,
        output_format=args.format,
        config=args.config,
        timeout_s=args.timeout,
        token=os.environ.get("CDS_REPLAY_TOKEN"),
        show_cards=args.show_cards,
    )


def register(commands: Any) -> None:
    """Add the `replay` sub-command to the `cds` parser."""
    parser = commands.add_parser(
        "replay",
        help="replay FHIR fixtures and diff the cards against their golden files",
        description="Send each fixture as a hook request (in process, or to --url with dates shifted "
        "to today), print the cards and compare them with <fixture>.expected.json. Exit 0 when all "
        "match, 1 on any mismatch, 2 on a usage error.",
    )
    parser.add_argument("fixtures", nargs="+", metavar="FIXTURE", help="fixture files or directories")
    parser.add_argument("--url", help="base URL of a running service (default: in process)")
    parser.add_argument("--update", action="store_true", help="rewrite the golden files (after review)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--config", help="TOML configuration for the in-process service")
    parser.add_argument(
        "--show-cards", action="store_true", help="print every card in full, as JSON, under its summary"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout in seconds with --url")
    parser.set_defaults(func=_command)
