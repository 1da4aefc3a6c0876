"""The card's markdown detail: evidence table, causes, what to do, caveats, gaps.

Kept short enough to read in seconds: at most two caveats, the most relevant first, and no
list of sources (the card's links carry them).

Everything that came from the chart goes through `md_escape`, so a hostile display
string cannot break the table, add a link or inject HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cds.cards.summary import shown_value
from cds.cards.text import date_part, md_escape, md_text
from cds.engine.model import Cause, Evidence, Finding
from cds.knowledge import TopicInfo


def _section(title: str, lines: Sequence[str]) -> list[str]:
    return [f"**{title}**", "", *lines, ""] if lines else []


def _evidence_rows(evidence: Iterable[Evidence]) -> list[str]:
    rows = ["| Test | Reported | Value used | Date | Cut-off |", "|---|---|---|---|---|"]
    footnotes = []
    for item in evidence:
        value = f"{item.comparator or ''}{shown_value(item)} {item.unit}".strip()
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


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


MAX_CAVEATS = 2


def _caveats(keys: Sequence[str], notes: Mapping[str, str], priority: Mapping[str, int]) -> list[str]:
    """The most relevant caveats: by priority (safety first), then in the finding's order."""
    known = [key for key in _unique(keys) if key in notes]
    ranked = sorted(known, key=lambda key: priority.get(key, 5))  # stable: ties keep their order
    return [f"- {md_text(notes[key])}" for key in ranked[:MAX_CAVEATS]]


def detail_for(
    finding: Finding,
    topic: TopicInfo,
    notes: Mapping[str, str],
    advice_first: Sequence[str] = (),
    advice_last: Sequence[str] = (),
    note_priority: Mapping[str, int] | None = None,
) -> str:
    evidence = list(finding.evidence)
    if finding.primary is not None and finding.primary not in evidence:
        evidence.insert(0, finding.primary)
    # A finding's own advice (urgent steps for a critical result) replaces the routine advice.
    advice = [notes[key] for key in finding.advice if key in notes] or list(topic.advice)
    todo = [f"- {md_text(line)}" for line in (*advice_first, *advice)]
    todo += [f"- Order {md_escape(t.display)}: {md_escape(t.reason)}" for t in finding.tests]
    todo += [
        f"- {md_escape(t.display)}: offered on the card \"{md_escape(t.card)}\""
        for t in finding.tests_elsewhere
    ]
    todo += [f"- {md_text(line)}" for line in advice_last]
    caveats = _caveats(finding.notes, notes, note_priority or {})
    gaps = [f"- {md_escape(g.item)}: {md_escape(g.reason)}" for g in finding.gaps]
    lines = [
        *(_section("Evidence", _evidence_rows(evidence)) if evidence else []),
        *_section("Likely causes in the chart", [_cause_line(c) for c in finding.causes]),
        *_section("Symptoms documented", [_cause_line(s) for s in finding.symptoms]),
        *_section("On record", [_cause_line(r) for r in finding.on_record]),
        *_section("What to do", todo),
        *_section("Caveats", caveats),
        *_section("Missing or stale data", gaps),
    ]
    return "\n".join(lines).strip()
