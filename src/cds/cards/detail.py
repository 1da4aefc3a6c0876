"""The card's markdown detail: evidence table, causes, what to do, caveats, gaps.

Kept short enough to read in seconds: the caveats the engine chose (at most two), no list of
sources (the card's links carry them). Each evidence row gives the result as the laboratory
reported it first, the value judged second, when it was taken and how long ago, and the cut-off
in the unit it was judged in.

Everything that came from the chart goes through `md_escape`, so a hostile display
string cannot break the table, add a link or inject HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cds.cards.summary import reported_differs, shown_value
from cds.cards.text import date_part, md_escape, md_text
from cds.engine.model import Cause, Evidence, Finding
from cds.knowledge import TopicInfo


def _section(title: str, lines: Sequence[str]) -> list[str]:
    return [f"**{title}**", "", *lines, ""] if lines else []


def _taken(item: Evidence) -> str:
    """'2026-11-25 03:13, 12 days ago': the time as the laboratory wrote it, and its age."""
    effective = item.effective
    when = effective[:16].replace("T", " ") if "T" in effective else date_part(effective)
    return ", ".join(part for part in (when, item.ago) if part)


def _result(item: Evidence) -> str:
    """The result as the laboratory reported it first, the value judged (converted or derived) second."""
    used = f"{item.comparator or ''}{shown_value(item)} {item.unit}".strip()
    if item.derived:
        return f"{used} (from {item.reported})" if item.reported else used
    if reported_differs(item) and item.reported:
        return f"{item.reported} ({used})"
    if item.reported_unit:  # the same number (150 pg/mL is 150 ng/L): said once, as the laboratory did
        return f"{item.comparator or ''}{shown_value(item)} {item.reported_unit}".strip()
    return used


def _evidence_rows(evidence: Iterable[Evidence]) -> list[str]:
    rows = ["| Test | Result | Taken | Cut-off |", "|---|---|---|---|"]
    footnotes = []
    for item in evidence:
        test = md_escape(item.display)
        if item.status != "final":
            test += f" ({md_escape(item.status)})"
        if item.grade:
            test += f": {item.grade}"
        rows.append(
            f"| {test} | {md_escape(_result(item))} | {md_escape(_taken(item)) or '-'} "
            f"| {md_escape(item.cutoff) or '-'} |"
        )
        if item.note:
            footnotes.append(f"- {md_escape(item.display)}: {md_escape(item.note)}")
    return rows + (["", *footnotes] if footnotes else [])


def _cause_line(cause: Cause) -> str:
    line = f"- {md_escape(cause.display)}"
    if cause.matched_by == "text":
        line += " (matched by name only: please verify)"
    return line


def _caveats(keys: Sequence[str], notes: Mapping[str, str]) -> list[str]:
    """The caveats the engine chose for this card (at most two, the most fitting first)."""
    return [f"- {md_text(notes[key])}" for key in dict.fromkeys(keys) if key in notes]


def detail_for(
    finding: Finding,
    topic: TopicInfo,
    notes: Mapping[str, str],
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
    todo += [
        f'- {md_escape(t.display)}: offered on the card "{md_escape(t.card)}"'
        for t in finding.tests_elsewhere
    ]
    todo += [f'- See also the card "{md_escape(title)}"' for title in finding.see_also]
    todo += [f"- {md_text(line)}" for line in advice_last]
    caveats = _caveats(finding.notes, notes)
    gaps = [f"- {md_escape(g.item)}: {md_escape(g.reason)}" for g in finding.gaps]
    lines = [
        *(_section("Evidence", _evidence_rows(evidence)) if evidence else []),
        *_section("Likely causes in the chart", [_cause_line(c) for c in finding.causes if c.kind != "age"]),
        *_section("Risk factors", [_cause_line(c) for c in finding.causes if c.kind == "age"]),
        *_section("Symptoms documented", [_cause_line(s) for s in finding.symptoms]),
        *_section("On record", [_cause_line(r) for r in finding.on_record]),
        *_section("What to do", todo),
        *_section("Caveats", caveats),
        *_section("Missing or stale data", gaps),
    ]
    return "\n".join(lines).strip()
