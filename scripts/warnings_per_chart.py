"""Cards per chart: run a directory of patient-view request bodies through the service in process.

    python scripts/warnings_per_chart.py DIR [--json]

Each `*.json` file in DIR is one request body (scripts/ward_population.py writes them); its
top-level `_now` is the instant the chart is read at (the service's clock is pinned to it, as
`cds replay` pins it to a fixture's "now"), and fields starting with `_` are not sent. Prints
how many charts were living or deceased, the cards per chart by indicator, the share of living
charts with a warning or critical card, cards by topic and the commonest card summaries (numbers
and dates masked so that the same card on different values counts once).

Uses only `create_app` and `load_settings`, so the same script measures an older checkout:
    PYTHONPATH=/path/to/old/src python scripts/warnings_per_chart.py DIR
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

INDICATORS = ("critical", "warning", "info")
_SETTING_COLUMNS = (
    ("charts", 8),
    ("critical", 10),
    ("warning", 9),
    ("info", 6),
    ("with warning or critical", 8),
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?")
_NUMBER = re.compile(r"(?<![A-Za-z\d])\d+(?:\.\d+)?")  # not the 12 of "B12"

Sender = Callable[[dict[str, Any], datetime], tuple[int, Any]]


class UsageError(Exception):
    """Something the caller must fix: no such directory, a file that is not a request body."""


# --------------------------------------------------------------------------- reading the bodies
def parse_instant(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def load_bodies(directory: Path) -> list[tuple[str, dict[str, Any]]]:
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    bodies = []
    for path in sorted(directory.glob("*.json")):
        try:
            body = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path.name}: not readable JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("_now"), str):
            raise UsageError(f"{path.name}: not a request body with a top-level '_now'")
        bodies.append((path.stem, body))
    if not bodies:
        raise UsageError(f"no *.json request bodies in {directory}")
    return bodies


def is_deceased(body: dict[str, Any]) -> bool:
    patient = (body.get("prefetch") or {}).get("patient") or {}
    died = patient.get("deceasedDateTime")
    return patient.get("deceasedBoolean") is True or (isinstance(died, str) and bool(died.strip()))


# --------------------------------------------------------------------------- the service
def _settings(data_dir: str) -> Any:
    from cds.config import load_settings

    try:  # quiet logs and the audit key in a throw-away directory, where the checkout knows them
        return load_settings(environ={}, database_url="sqlite://", data_dir=data_dir, log_level="WARNING")
    except Exception:  # an older Settings without one of these: the plain in-memory service
        return load_settings(environ={}, database_url="sqlite://")


def in_process_sender(data_dir: str) -> tuple[Sender, str]:
    """A sender posting to the patient-view service with the app's clock pinned per call."""
    try:
        from cds.http.app import create_app
    except ImportError as exc:
        raise UsageError(f"cannot import the service ({exc}); set PYTHONPATH to a checkout's src") from None

    pinned = [datetime.now(UTC)]
    try:
        app = create_app(_settings(data_dir), clock=lambda: pinned[0])
    except TypeError:  # a checkout whose app reads the clock itself: "now" cannot be pinned
        raise UsageError("this checkout's create_app takes no clock; its 'now' cannot be pinned") from None
    client = app.test_client()
    listing = client.get("/cds-services").get_json(silent=True) or {}
    service = next(
        (s["id"] for s in listing.get("services", []) if s.get("hook") == "patient-view"), "deficiency-screen"
    )

    def send(body: dict[str, Any], now: datetime) -> tuple[int, Any]:
        pinned[0] = now
        request = {key: value for key, value in body.items() if not key.startswith("_")}
        response = client.post(f"/cds-services/{service}", json=request)
        return response.status_code, response.get_json(silent=True)

    return send, service


# --------------------------------------------------------------------------- measuring
def summary_key(summary: str) -> str:
    return _NUMBER.sub("#", _DATE.sub("<date>", summary))


def card_topic(card: dict[str, Any]) -> str:
    topic = (card.get("source") or {}).get("topic")
    return str(topic.get("code")) if isinstance(topic, dict) else "(no topic)"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def measure(bodies: Sequence[tuple[str, dict[str, Any]]], send: Sender) -> dict[str, Any]:
    """Cards per chart by indicator, topic and summary, and the charts the service refused."""
    by_indicator: Counter[str] = Counter()
    by_topic: dict[str, Counter[str]] = {}
    summaries: Counter[tuple[str, str]] = Counter()
    by_setting: dict[str, Counter[str]] = {}
    living = deceased = alerted = deceased_cards = 0
    errors: list[dict[str, Any]] = []
    for name, body in bodies:
        status, answer = send(body, parse_instant(body["_now"]))
        if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("cards"), list):
            errors.append({"chart": name, "status": status})
            continue
        cards = [c for c in answer["cards"] if isinstance(c, dict)]
        if is_deceased(body):
            deceased += 1
            deceased_cards += len(cards)
            continue
        living += 1
        setting = by_setting.setdefault(str(body.get("_setting", "unknown")), Counter())
        setting["charts"] += 1
        indicators = [str(c.get("indicator")) for c in cards]
        if {"warning", "critical"} & set(indicators):
            alerted += 1
            setting["with warning or critical"] += 1
        for card, indicator in zip(cards, indicators, strict=True):
            by_indicator[indicator] += 1
            setting[indicator] += 1
            by_topic.setdefault(card_topic(card), Counter())[indicator] += 1
            summaries[(indicator, summary_key(str(card.get("summary", ""))))] += 1
    return {
        "charts": len(bodies),
        "living": living,
        "deceased": deceased,
        "refused": errors,
        "cardsOnDeceasedCharts": deceased_cards,
        "cardsOnLivingCharts": {i: by_indicator.get(i, 0) for i in INDICATORS},
        "cardsPerLivingChart": {i: _share(by_indicator.get(i, 0), living) for i in INDICATORS},
        "livingWithWarningOrCritical": alerted,
        "shareLivingWithWarningOrCritical": _share(alerted, living),
        "warningsPerLivingChart": _share(by_indicator.get("warning", 0), living),
        "bySetting": {name: dict(counts) for name, counts in sorted(by_setting.items())},
        "byTopic": {topic: dict(counts) for topic, counts in sorted(by_topic.items())},
        "topSummaries": [
            {"count": count, "indicator": indicator, "summary": summary}
            for (indicator, summary), count in sorted(summaries.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
    }


# --------------------------------------------------------------------------- the report
def render_text(report: dict[str, Any], service: str) -> str:
    living = report["living"]
    lines = [
        f"service {service}: {report['charts']} charts ({living} living, {report['deceased']} deceased"
        + (f", {len(report['refused'])} refused" if report["refused"] else "")
        + ")",
        f"cards on deceased charts: {report['cardsOnDeceasedCharts']}",
        "",
        f"{'cards on living charts':<30}{'total':>8}{'per chart':>12}",
    ]
    for indicator in INDICATORS:
        total, per = report["cardsOnLivingCharts"][indicator], report["cardsPerLivingChart"][indicator]
        lines.append(f"  {indicator:<28}{total:>8}{per:>12.2f}")
    lines += [
        "",
        f"living charts with a warning or critical card: {report['livingWithWarningOrCritical']} of {living}"
        f" ({report['shareLivingWithWarningOrCritical']:.1%})",
        f"warnings per living chart: {report['warningsPerLivingChart']:.2f}",
        "",
        f"{'living charts by setting':<30}{'charts':>8}{'critical':>10}{'warning':>9}{'info':>6}"
        "  with warning or critical",
    ]
    for name, counts in report["bySetting"].items():
        row = "".join(f"{counts.get(k, 0):>{w}}" for k, w in _SETTING_COLUMNS)
        lines.append(f"  {name:<28}{row}")
    lines += ["", f"{'cards by topic':<30}{'critical':>10}{'warning':>9}{'info':>6}"]
    for topic, counts in report["byTopic"].items():
        row = "".join(f"{counts.get(i, 0):>{w}}" for i, w in zip(INDICATORS, (10, 9, 6), strict=True))
        lines.append(f"  {topic:<28}{row}")
    lines += ["", "top card summaries (numbers and dates masked)"]
    for item in report["topSummaries"]:
        lines.append(f"  {item['count']:>4}  {item['indicator']:<8}  {item['summary']}")
    for refused in report["refused"]:
        lines.append(f"refused: {refused['chart']} (HTTP {refused['status']})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="directory of request bodies (*.json with '_now')")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        bodies = load_bodies(args.directory)
        with tempfile.TemporaryDirectory(prefix="warnings-per-chart-") as data_dir:
            send, service = in_process_sender(data_dir)
            report = measure(bodies, send)
    except UsageError as exc:
        print(f"warnings_per_chart: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"service": service, **report}, indent=2))
    else:
        print(render_text(report, service))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
