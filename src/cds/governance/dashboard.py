"""The committee dashboard: the report as one HTML page with server-drawn SVG charts.

No script and no patient data: only counts per service, topic, week and override reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode

from cds.governance.dashboard_change import (
    current_version,
    shadow_section,
    version_markers,
    version_scope,
    versions_section,
)
from cds.governance.figures import Report, TopicFigures, Week, call_share, fit, percent

ACCEPTED, OVERRIDDEN, NO_FEEDBACK, SILENT = "#2f6fb0", "#d9622b", "#c9ced6", "#8e7cc3"
_SERIES = (("Accepted", ACCEPTED), ("Overridden", OVERRIDDEN), ("No feedback", NO_FEEDBACK))

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1a202c;
max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#4a5568;margin:0 0 4px}.scope{margin:0 0 16px}.figures{display:flex;gap:12px;flex-wrap:wrap}
.figure{border:1px solid #e2e8f0;border-radius:6px;padding:8px 14px;min-width:120px;max-width:190px}
.figure b{display:block;font-size:22px}.figure span{color:#4a5568;font-size:13px}
.flags{border:2px solid #c53030;background:#fff5f5;border-radius:6px;padding:10px 14px;margin:16px 0}
.flags h2{margin:0 0 6px;color:#c53030}.ok{border:1px solid #c6f6d5;background:#f0fff4;border-radius:6px;
padding:10px 14px;margin:16px 0}
.legend span{display:inline-block;margin-right:16px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;font-size:12px;margin-top:8px}
td,th{padding:4px 7px;border-bottom:1px solid #e2e8f0;text-align:right}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}
td{white-space:nowrap}
svg text{font-family:inherit}.note{color:#4a5568;font-size:13px}
table.split td,table.split th{text-align:right;vertical-align:top}.split .l{text-align:left}
tr.quiet td{color:#a0aec0}code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em}
.pilot{border:1px solid #cbd5e0;border-radius:6px;padding:4px 16px 12px;margin:24px 0 8px;background:#f7fafc}
"""


def _legend(silent: bool = False) -> str:
    items = [*_SERIES, ("Recorded silently", SILENT)] if silent else list(_SERIES)
    spans = "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in items)
    return f'<div class="legend">{spans}</div>'


def topic_link(topic: str, keep: Mapping[str, str]) -> str:
    """The page's own address filtered to one topic, keeping the reader's period and service."""
    return "?" + urlencode({**keep, "topic": topic})


def _all_topics_link(keep: Mapping[str, str]) -> str:
    return "?" + urlencode(keep) if keep else "?"


def _topic_label(topic: TopicFigures, services: int) -> str:
    return topic.display if services == 1 else f"{topic.display} ({topic.service})"


def topic_bars(report: Report, keep: Mapping[str, str]) -> str:
    """One stacked bar per topic: accepted, overridden and no feedback, scaled to the largest."""
    topics = report.topics
    if not topics:
        return '<p class="note">No cards in this period.</p>'
    services = len({t.service for t in topics})
    label_w, bar_w, right_w, row_h = 300, 380, 360, 34
    biggest = max(max(t.shown + t.silent for t in topics), 1)
    height = row_h * len(topics) + 10
    parts = [
        f'<svg role="img" aria-label="Cards per topic" width="{label_w + bar_w + right_w}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, t in enumerate(topics):
        y = 5 + i * row_h
        label = _topic_label(t, services)
        flag = " ⚠" if t.fatigue_risk else ""
        mode = "" if t.mode == "active" else f" [{t.mode}]"
        parts.append(
            f'<a href="{escape(topic_link(t.topic, keep))}"><text x="{label_w - 10}" y="{y + 17}" '
            f'text-anchor="end" font-size="13" fill="#1a4f8b" text-decoration="underline">'
            f"{escape(fit(label, 37 - len(mode) - len(flag)))}{escape(mode)}{flag}"
            f"<title>{escape(label)} ({escape(t.topic)}): this topic only</title></text></a>"
        )
        x = float(label_w)
        for (name, colour), count in zip(_SERIES, (t.accepted, t.overridden, t.no_feedback), strict=True):
            width = bar_w * count / biggest
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="20" fill="{colour}">'
                    f"<title>{escape(name)}: {count}</title></rect>"
                )
            x += width
        if t.silent:
            width = bar_w * t.silent / biggest
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="20" fill="none" '
                f'stroke="{SILENT}" stroke-width="2" stroke-dasharray="4 3">'
                f"<title>Recorded silently: {t.silent}</title></rect>"
            )
            x += width
        summary = (
            f"{t.shown} shown · {percent(t.acceptance_rate)} accepted · {percent(t.override_rate)} overridden"
            if t.shown
            else f"silent: would have shown on {call_share(t.silent_calls, t.silent_call_share)} calls"
        )
        colour = "#c53030" if t.fatigue_risk else "#2d3748"
        parts.append(
            f'<text x="{x + 8:.1f}" y="{y + 18}" font-size="12" fill="{colour}">{escape(summary)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def weekly_trend(weeks: list[Week]) -> str:
    """Stacked columns per week (Monday to Sunday, UTC) with the override rate written above;
    a week's silent cards are a dashed outline on top, so a silent pilot's trend is visible too."""
    if not weeks:
        return '<p class="note">No cards in this period.</p>'
    switches = any(w.new_versions for w in weeks)
    left, top, plot_h, col_w = 44, 44 if switches else 24, 180, 46
    width = left + col_w * len(weeks) + 20
    biggest = max(max(w.shown + w.silent for w in weeks), 1)
    parts = [
        f'<svg role="img" aria-label="Cards per week" width="{max(width, 300)}" height="{top + plot_h + 24}" '
        'xmlns="http://www.w3.org/2000/svg">',
        *version_markers(weeks, left, top, plot_h, col_w),
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#718096"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{biggest}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, week in enumerate(weeks):
        x = left + 8 + i * col_w
        y = float(top + plot_h)
        for (name, colour), count in zip(
            _SERIES, (week.accepted, week.overridden, week.no_feedback), strict=True
        ):
            h = plot_h * count / biggest
            if h > 0:
                y -= h
                parts.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{col_w - 14}" height="{h:.1f}" fill="{colour}">'
                    f"<title>Week of {week.start}: {escape(name)} {count}</title></rect>"
                )
        if week.silent:
            h = plot_h * week.silent / biggest
            y -= h
            parts.append(
                f'<rect x="{x + 1}" y="{y:.1f}" width="{col_w - 16}" height="{h:.1f}" fill="none" '
                f'stroke="{SILENT}" stroke-width="2" stroke-dasharray="4 3">'
                f"<title>Week of {week.start}: Recorded silently {week.silent}</title></rect>"
            )
        label = percent(week.overridden / week.shown) if week.shown else f"{week.silent} silent"
        middle = x + (col_w - 14) / 2
        parts.append(f'<text x="{middle}" y="{y - 5:.1f}" text-anchor="middle" font-size="11">{label}</text>')
        parts.append(
            f'<text x="{x + (col_w - 14) / 2}" y="{top + plot_h + 16}" text-anchor="middle" font-size="11">'
            f"{week.start:%d %b}</text>"
        )
    parts.append("</svg>")
    parts.append(
        '<p class="note">Columns are weeks, labelled by their Monday (UTC); the figure above each '
        "column is that week's override rate (of shown cards), or its count of silent cards when "
        "none was shown."
        + (" A dashed line marks the week a new knowledge version took effect." if switches else "")
        + "</p>"
    )
    return "".join(parts)


def reason_bars(report: Report, reason_names: Mapping[str, str], limit: int = 8) -> str:
    totals: Counter[str] = Counter()
    for t in report.topics:
        totals.update(t.override_reasons)
    if not totals:
        return '<p class="note">No override reasons given in this period.</p>'
    top = totals.most_common(limit)
    label_w, bar_w, row_h = 330, 360, 26
    biggest = top[0][1]
    parts = [
        f'<svg role="img" aria-label="Top override reasons" width="{label_w + bar_w + 60}" '
        f'height="{row_h * len(top) + 6}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (code, count) in enumerate(top):
        y = 3 + i * row_h
        name = reason_names.get(code, code)
        width = bar_w * count / biggest
        parts.append(
            f'<text x="{label_w - 10}" y="{y + 15}" text-anchor="end" font-size="13">{escape(name[:48])}'
            f"<title>{escape(code)}</title></text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="16" fill="{OVERRIDDEN}"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 15}" font-size="12">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _flags(report: Report, keep: Mapping[str, str]) -> str:
    rule = (
        f"override rate of at least {percent(report.fatigue.threshold)} over the last "
        f"{report.fatigue.window} shown cards (at least {report.fatigue.min_cards} cards)"
    )
    flagged = report.flagged
    if not flagged:
        return f'<div class="ok">No topic is flagged as a fatigue risk ({escape(rule)}).</div>'
    items = "".join(
        f'<li><b><a href="{escape(topic_link(t.topic, keep))}">{escape(t.display)}</a></b> '
        f"({escape(t.service)}): {percent(t.recent_override_rate)} of the "
        f"last {t.recent_cards} cards overridden</li>"
        for t in flagged
    )
    return (
        f'<div class="flags"><h2>⚠ Fatigue risk: {len(flagged)} topic{"s" if len(flagged) > 1 else ""}</h2>'
        f'<ul>{items}</ul><div class="note">Flagged at an {escape(rule)}.</div></div>'
    )


def _table(report: Report, keep: Mapping[str, str]) -> str:
    head = (
        "<tr><th>Topic</th><th>Service</th><th>Mode now</th><th>Shown</th><th>Silent</th>"
        "<th>Shown on calls</th><th>Silent on calls</th><th>Accepted</th><th>Overridden</th>"
        "<th>No feedback</th>"
        "<th>Acceptance</th><th>Override</th></tr>"
    )
    rows = "".join(
        f'<tr><td><a href="{escape(topic_link(t.topic, keep))}">{escape(t.display)}</a>'
        f"{' ⚠' if t.fatigue_risk else ''}</td><td>{escape(t.service)}</td>"
        f"<td>{escape(t.mode)}</td><td>{t.shown}</td><td>{t.silent}</td>"
        f"<td>{call_share(t.shown_calls, t.shown_call_share)}</td>"
        f"<td>{call_share(t.silent_calls, t.silent_call_share)}</td><td>{t.accepted}</td>"
        f"<td>{t.overridden}</td><td>{t.no_feedback}</td><td>{percent(t.acceptance_rate)}</td>"
        f"<td>{percent(t.override_rate)}</td></tr>"
        for t in report.topics
    )
    return f'<table class="topics">{head}{rows}</table>'


def _of_calls(count: int, calls: int) -> str:
    return call_share(count, count / calls if calls else None)


def _scope(report: Report, keep: Mapping[str, str]) -> str:
    """What the page covers, and the way back to every topic when it covers one."""
    if report.topic is None:
        return "All topics" + (f" of {escape(report.service)}" if report.service else "")
    name = next((t.display for t in report.topics if t.topic == report.topic), report.topic)
    return (
        f"Topic: <b>{escape(name)}</b> ({escape(report.topic)})"
        + (f" of {escape(report.service)}" if report.service else "")
        + f' · <a href="{escape(_all_topics_link(keep))}">all topics</a>'
    )


def _rotation(report: Report) -> str:
    note = report.rotation_note
    return f'<p class="note rotation">{escape(note)}</p>\n' if note else ""


def render_dashboard(
    report: Report, reason_names: Mapping[str, str], keep: Mapping[str, str] | None = None
) -> str:
    """The page; `keep` holds the reader's period and service, carried into links to a topic's view."""
    keep = dict(keep or {})
    since = f"{report.since:%Y-%m-%d}" if report.since else "the first record"
    until = f"{report.until:%Y-%m-%d %H:%M} UTC" if report.until else "now"
    period = f"{since} to {until}"
    shown = sum(t.shown for t in report.topics)
    silent = sum(t.silent for t in report.topics)
    overridden = sum(t.overridden for t in report.topics)
    one_topic = report.topic is not None
    every = " (all topics)" if one_topic else ""  # not a topic's own: the service's calls and feedback
    figures = [
        (str(report.calls), f"calls answered{every}"),
        (str(shown), "cards shown"),
        (str(silent), "recorded silently"),
        (percent(overridden / shown) if shown else "-", "of shown cards overridden"),
        (str(report.unmatched_feedback), f"unmatched feedback{every}"),
    ]
    if one_topic:
        # The figures the committee reads for one topic: the calls it fired on, or would have.
        # Over the calls of the services it appears in, as each row of the table is.
        calls = sum(report.calls_by_service.get(service, 0) for service in {t.service for t in report.topics})
        silent_calls = sum(t.silent_calls for t in report.topics)
        shown_calls = sum(t.shown_calls for t in report.topics)
        if silent_calls:
            figures.insert(1, (_of_calls(silent_calls, calls), "calls it would have shown on (silent)"))
        if shown_calls:
            figures.insert(1, (_of_calls(shown_calls, calls), "calls it was shown on"))
    boxes = "".join(
        f'<div class="figure"><b>{escape(v)}</b><span>{escape(n)}</span></div>' for v, n in figures
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CDS card report</title>
<meta name="robots" content="noindex"><style>{_CSS}</style></head><body>
<h1>CDS card report</h1>
<p class="meta">Period: {escape(period)} · counts only, no patient data · {current_version(report)}</p>
<p class="scope">{_scope(report, keep)}{version_scope(report, keep)}</p>
{_rotation(report)}<div class="figures">{boxes}</div>
{_flags(report, keep)}
<h2>Cards per topic</h2>
{_legend(silent=silent > 0)}
{topic_bars(report, keep)}
<h2>Weekly trend</h2>
{_legend(silent=silent > 0)}
{weekly_trend(report.weeks)}
<h2>Top override reasons</h2>
{reason_bars(report, reason_names)}
<h2>Figures</h2>
{_table(report, keep)}
{versions_section(report, keep)}
{shadow_section(report)}
<p class="note">Rates are over shown cards: a card nobody acted on counts as no feedback. A card's
outcome is its latest feedback. Unmatched feedback is feedback for a card this service never showed.
Shown on / silent on calls: the calls of the service on which the topic's card was shown / recorded
silently (a silent topic would have shown on these), and their share of all the calls it answered in the
period. Mode now is the
topic's current setting; its silent cards may date from a pilot that has since ended.</p>
</body></html>
"""
