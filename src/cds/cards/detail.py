"""The card's markdown detail: evidence table, causes, what to do, caveats, gaps, sources.

Everything that came from the chart goes through `md_escape`, so a hostile display
string cannot break the table, add a link or inject HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cds.cards.catalog import TopicInfo
from cds.cards.summary import shown_number
from cds.cards.text import date_part, md_escape, md_text
from cds.engine.model import Cause, Evidence, Finding

_SAFE_URL = re.compile(r"^https?://[^\s()<>\[\]]+$")


def _section(title: str, lines: Sequence[str]) -> list[str]:
    return [f"**{title}**", "", *lines, ""] if lines else []


def _evidence_rows(evidence: Iterable[Evidence]) -> list[str]:
    rows = ["| Test | Reported | Value used | Date | Cut-off |", "|---|---|---|---|---|"]
    footnotes = []
    for item in evidence:
        value = f"{item.comparator or ''}{shown_number(item.value, item.cutoff)} {item.unit}".strip()
        test = md_escape(item.display)
        if item.status != "final":
            test += f" ({md_escape(item.status)})"
        rows.append(
            f"| {test} | {md_escape(item.reported) or '-'} | {md_escape(value)} "
            f"| {md_escape(date_part(item.effective)) or '-'} | {md_escape(item.cutoff) or '-'} |"
        )
        if item.note:
            footnotes.append(f"- {test}: {md_escape(item.note)}")
    return rows + (["", *footnotes] if footnotes else [])


def _cause_line(cause: Cause) -> str:
    line = f"- {md_escape(cause.display)}"
    if cause.matched_by == "text":
        line += " (matched by name only: please verify)"
    return line


def _source_line(key: str, sources: Mapping[str, Mapping[str, Any]]) -> str:
    source = sources.get(key)
    if source is None:
        return f"- {md_escape(key)}"
    title = md_text(str(source.get("title") or key))
    url = source.get("url")
    line = f"- [{title}]({url})" if isinstance(url, str) and _SAFE_URL.match(url) else f"- {title}"
    citation = source.get("citation")
    if citation:
        line += f": {md_text(str(citation))}"
    return line


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def detail_for(
    finding: Finding,
    topic: TopicInfo,
    notes: Mapping[str, str],
    sources: Mapping[str, Mapping[str, Any]],
    advice_first: Sequence[str] = (),
    advice_last: Sequence[str] = (),
) -> str:
    evidence = list(finding.evidence)
    if finding.primary is not None and finding.primary not in evidence:
        evidence.insert(0, finding.primary)
    # A finding's own advice (urgent steps for a critical result) replaces the routine advice.
    advice = [notes[key] for key in finding.advice if key in notes] or list(topic.advice)
    todo = [f"- {md_text(line)}" for line in (*advice_first, *advice)]
    todo += [f"- Order {md_escape(t.display)}: {md_escape(t.reason)}" for t in finding.tests]
    todo += [f"- {md_text(line)}" for line in advice_last]
    caveats = [f"- {md_text(notes[key])}" for key in _unique(finding.notes) if key in notes]
    gaps = [f"- {md_escape(g.item)}: {md_escape(g.reason)}" for g in finding.gaps]
    source_keys = _unique([*finding.sources, *(e.source for e in evidence if e.source), *topic.sources])
    lines = [
        *(_section("Evidence", _evidence_rows(evidence)) if evidence else []),
        *_section("Likely causes in the chart", [_cause_line(c) for c in finding.causes]),
        *_section("Symptoms documented", [_cause_line(s) for s in finding.symptoms]),
        *_section("On record", [_cause_line(r) for r in finding.on_record]),
        *_section("What to do", todo),
        *_section("Caveats", caveats),
        *_section("Missing or stale data", gaps),
        *_section("Sources", [_source_line(k, sources) for k in source_keys]),
    ]
    return "\n".join(lines).strip()
