"""The dashboard's change-control parts: the knowledge version in force, the figures split by
version, the week a version took effect on the trend, and a shadow pilot's comparison.

Server-drawn HTML and SVG like the rest of the page: no script, counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from urllib.parse import urlencode

from cds.governance.comparison import ShadowComparison, ShadowTopic
from cds.governance.figures import Report, VersionFigures, Week, call_share, fit, percent

APPEAR, DISAPPEAR, INDICATOR, WORDING = "#2f855a", "#c53030", "#d69e2e", "#a0aec0"
_CHANGES = (("Would appear", APPEAR), ("Would disappear", DISAPPEAR),
            ("Indicator would change", INDICATOR), ("Wording would change", WORDING))  # fmt: skip
MARKER = "#2d3748"


def _name(version: str | None, label: str = "") -> str:
    shown = f"<code>{escape(version or 'unversioned')}</code>"
    return f"{shown} ({escape(label)})" if label else shown


def current_version(report: Report) -> str:
    """The meta line's part: which rules the service runs now."""
    current = report.current or {}
    if not current.get("version"):
        return ""
    return f"rules now: knowledge version {_name(current['version'], current.get('label', ''))}"


def version_link(version: str | None, keep: Mapping[str, str]) -> str:
    return "?" + urlencode(
        {**{k: v for k, v in keep.items() if k != "version"}, "version": version or "unversioned"}
    )


def version_scope(report: Report, keep: Mapping[str, str]) -> str:
    """The scope line's part when the page is about one knowledge version."""
    if not report.version:
        return ""
    rest = {k: v for k, v in keep.items() if k != "version"}
    back = "?" + urlencode(rest) if rest else "?"
    label = next((v.label for v in report.versions if (v.version or "unversioned") == report.version), "")
    return f' · knowledge version {_name(report.version, label)} · <a href="{escape(back)}">all versions</a>'


def version_markers(weeks: Sequence[Week], left: int, top: int, plot_h: int, col_w: int) -> list[str]:
    """A dashed line before the column of each week in which a new version took effect."""
    parts = []
    for i, week in enumerate(weeks):
        if not week.new_versions:
            continue
        x = left + 3 + i * col_w
        names = ", ".join(week.new_versions)
        parts.append(
            f'<line x1="{x}" y1="{top - 26}" x2="{x}" y2="{top + plot_h}" stroke="{MARKER}" '
            f'stroke-width="1.5" stroke-dasharray="5 3"><title>Knowledge version {escape(names)} '
            f"took effect in the week of {week.start}</title></line>"
            f'<text x="{x + 3}" y="{top - 30}" font-size="11" fill="{MARKER}">▼ {escape(names)}</text>'
        )
    return parts


def _started(figures: VersionFigures) -> str:
    if figures.version is None:
        return "before versions were recorded"
    if figures.first_live is None:
        return ""
    when = f"{figures.first_live:%Y-%m-%d %H:%M} UTC"
    return f"took effect {when}" if figures.took_effect else f"in use before the period (from {when})"


def _version_rows(figures: VersionFigures, keep: Mapping[str, str]) -> str:
    topics = figures.topics or [None]
    span = f' rowspan="{len(topics)}"'
    lines = [escape(line) for line in (figures.label, _started(figures)) if line]
    link = escape(version_link(figures.version, keep))
    head = (
        f'<td class="l"{span}><a href="{link}">{_name(figures.version)}</a>'
        + "".join(f'<br><span class="note">{line}</span>' for line in lines)
        + f"</td><td{span}>{figures.calls}</td>"
    )
    rows = []
    for i, t in enumerate(topics):
        cells = (
            '<td class="l">-</td>' + "<td></td>" * 7
            if t is None
            else f'<td class="l">{escape(t.display)}</td><td>{t.shown}</td><td>{t.silent}</td>'
            f"<td>{call_share(t.shown_calls, t.shown_call_share)}</td><td>{t.accepted}</td>"
            f"<td>{t.overridden}</td><td>{percent(t.acceptance_rate)}</td><td>{percent(t.override_rate)}</td>"
        )
        rows.append(f"<tr>{head if i == 0 else ''}{cells}</tr>")
    return "".join(rows)


def versions_section(report: Report, keep: Mapping[str, str]) -> str:
    """Every figure of the period split by the knowledge version that answered the call."""
    if not report.versions:
        return '<h2>By knowledge version</h2><p class="note">No calls in this period.</p>'
    head = (
        '<tr><th class="l">Version</th><th>Calls</th><th class="l">Topic</th>'
        "<th>Shown</th><th>Silent</th><th>Shown on calls</th><th>Accepted</th><th>Overridden</th>"
        "<th>Acceptance</th><th>Override</th></tr>"
    )
    rows = "".join(_version_rows(v, keep) for v in report.versions)
    return (
        '<h2>By knowledge version</h2><table class="split">'
        f"{head}{rows}</table>"
        '<p class="note">Each call and card is counted under the knowledge version that answered it, '
        "so the figures before and after a change of the rules read side by side. A version's name "
        "links to the page for it alone. Unversioned: records kept before versions were recorded.</p>"
    )


def _change_bars(topics: Sequence[ShadowTopic], services: int) -> str:
    changed = [t for t in topics if t.appear or t.disappear or t.indicator_changed or t.content_changed]
    if not changed:
        return '<p class="note">No card would appear, disappear or change.</p>'
    label_w, bar_w, right_w, row_h = 300, 380, 200, 30
    biggest = max(max(t.appear + t.disappear + t.indicator_changed + t.content_changed for t in changed), 1)
    parts = [
        f'<svg role="img" aria-label="Cards that would change" width="{label_w + bar_w + right_w}" '
        f'height="{row_h * len(changed) + 8}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, t in enumerate(changed):
        y = 4 + i * row_h
        name = t.display if services == 1 else f"{t.display} ({t.service})"
        parts.append(
            f'<text x="{label_w - 10}" y="{y + 16}" text-anchor="end" font-size="13">{escape(fit(name, 37))}'
            f"<title>{escape(name)} ({escape(t.topic)})</title></text>"
        )
        x = float(label_w)
        counts = (t.appear, t.disappear, t.indicator_changed, t.content_changed)
        for (series, colour), count in zip(_CHANGES, counts, strict=True):
            width = bar_w * count / biggest
            if width > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 3}" width="{width:.1f}" height="18" fill="{colour}">'
                    f"<title>{escape(series)}: {count}</title></rect>"
                )
            x += width
        parts.append(
            f'<text x="{x + 8:.1f}" y="{y + 16}" font-size="12">on {t.changed_calls} of the '
            f"{t.fired_calls} calls it fired on</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _comparison(c: ShadowComparison, one_topic: bool) -> str:
    services = len({t.service for t in c.topics})
    totals = [sum(getattr(t, name) for t in c.topics) for name in
              ("appear", "disappear", "indicator_changed", "content_changed")]  # fmt: skip
    share = c.changed_share
    figures = [
        (str(c.calls), "calls assessed"),
        (
            call_share(c.changed_calls, share) if c.changed_calls else "0",
            "answers would change" + (" (all topics)" if one_topic else ""),
        ),
        *((str(n), name.lower()) for (name, _), n in zip(_CHANGES, totals, strict=True)),
    ]
    boxes = "".join(
        f'<div class="figure"><b>{escape(v)}</b><span>{escape(n)}</span></div>' for v, n in figures
    )
    legend = "".join(f'<span><i style="background:{col}"></i>{escape(n)}</span>' for n, col in _CHANGES)
    head = (
        '<tr><th class="l">Topic</th><th class="l">Service</th><th>Live fired on calls</th>'
        "<th>Candidate would fire on</th><th>Would appear</th><th>Would disappear</th>"
        "<th>Indicator would change</th><th>Wording would change</th><th>Calls changed</th></tr>"
    )
    rows = "".join(
        f'<tr{"" if t.changed_calls else " class=quiet"}><td class="l">{escape(t.display)}</td>'
        f'<td class="l">{escape(t.service)}</td><td>{t.live_calls}</td><td>{t.candidate_calls}</td>'
        f"<td>{t.appear}</td><td>{t.disappear}</td><td>{t.indicator_changed}</td><td>{t.content_changed}</td>"
        f"<td>{t.changed_calls}</td></tr>"
        for t in sorted(c.topics, key=lambda t: (-t.changed_calls, t.service, t.topic))
    )
    live = ", ".join(f"<code>{escape(v)}</code>" for v in c.live_versions)
    since = f" since {c.first_shadow:%Y-%m-%d %H:%M} UTC" if c.first_shadow else ""
    return (
        f'<div class="pilot"><h2>Shadow pilot: candidate {_name(c.candidate, c.label)}</h2>'
        f'<p class="meta">Piloted{since} against live {live}: every call assessed under both, the '
        "candidate's cards recorded, never shown.</p>"
        f'<div class="figures">{boxes}</div>'
        f'<div class="legend">{legend}</div>{_change_bars(c.topics, services)}'
        f'<table class="split">{head}{rows}</table></div>'
    )


def shadow_section(report: Report) -> str:
    """Live against candidate for each shadow pilot that ran in the period."""
    if not report.shadow:
        return ""
    return "".join(_comparison(c, report.topic is not None) for c in report.shadow) + (
        '<p class="note">Fired on: calls on which the topic\'s card was built, shown or silent. Would '
        "appear / disappear: cards the clinician would newly see / no longer see. Indicator, wording: "
        "cards shown under both whose indicator, or whose wording or suggestions, would change. Calls "
        "changed: calls on which any of the topic's cards would. Greyed rows: no change.</p>"
    )
