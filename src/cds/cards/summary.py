"""The card's one-line summary: what was found, quoting the primary result."""

from __future__ import annotations

import re

from cds.cards.text import SUMMARY_MAX, date_part, format_number, one_line, truncate
from cds.engine.model import Evidence, Finding


def _value(evidence: Evidence) -> str:
    comparator = evidence.comparator or ""
    return f"{comparator}{format_number(evidence.value)} {evidence.unit}".strip()


_LEADING_NUMBER = re.compile(r"^\s*([<>]=?)?\s*(\d+(?:\.\d+)?)")


def _reported_differs(evidence: Evidence) -> bool:
    """Worth quoting: the reported number differs from the canonical one (pg/mL = ng/L is not)."""
    match = _LEADING_NUMBER.match(evidence.reported)
    if match is None:
        return bool(evidence.reported.strip())
    return format_number(float(match.group(2))) != format_number(evidence.value)


def evidence_phrase(evidence: Evidence) -> str:
    """'150 ng/L (reported 111 pmol/L) on 2026-09-02 (cut-off < 180 ng/L)'."""
    text = _value(evidence)
    if _reported_differs(evidence):
        text += f" (reported {one_line(evidence.reported)})"
    when = date_part(evidence.effective)
    if when:
        text += f" on {when}"
    if evidence.cutoff:
        text += f" (cut-off {one_line(evidence.cutoff)})"
    return text


_PARENTHETICAL = re.compile(r"\s*\([^)]*\)$")


def summary_for(finding: Finding) -> str:
    tests = finding.tests
    title = one_line(finding.title) or finding.topic.value
    if finding.primary is not None:
        full = f"{title}: {evidence_phrase(finding.primary)}"
        if len(full) > SUMMARY_MAX:
            # Drop the reported form first: the canonical value is what the cut-off uses.
            short = _value(finding.primary)
            when = date_part(finding.primary.effective)
            full = f"{title}: {short}" + (f" on {when}" if when else "")
        return truncate(full)
    if tests:
        # "(serum)" and similar qualifiers are on the orders; the summary keeps the names short.
        names = ", ".join(_PARENTHETICAL.sub("", one_line(t.display)) for t in tests)
        return truncate(f"{title} ({names})" if ":" in title else f"{title}: order {names}")
    return truncate(title)
