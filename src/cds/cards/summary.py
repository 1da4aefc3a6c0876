"""The card's one-line summary: what was found, quoting the primary result."""

from __future__ import annotations

import math

from cds.cards.text import SUMMARY_MAX, date_part, format_number, one_line, truncate
from cds.engine.model import Evidence, Finding, Topic
from cds.reader.facts import number_text

_MARKERS = frozenset({"mma", "homocysteine"})


def without_trailing_parenthetical(name: str) -> str:
    """'Magnesium (serum)' -> 'Magnesium'. String scans, not a regex: a pattern anchored at
    the end would be retried from every '(' or space, quadratic in the text's length."""
    if not name.endswith(")"):
        return name
    opening = name.find("(", name.rfind(")", 0, len(name) - 1) + 1)
    return name if opening < 0 else name[:opening].rstrip()


def shown_number(value: float, limits: tuple[str, ...]) -> str:
    """The value rounded for reading, at least as precise as its cut-offs (`limits`, as the
    guideline states them: a derived 2.00 against 2.12 reads 2.00, not 2), but never to a
    cut-off number it is not equal to: 2.1186 against 2.12 reads 2.119, not 2.12 (which would
    contradict the finding)."""
    shown = format_number(value)
    decimals = max((len(n.partition(".")[2]) for n in limits), default=0)
    if decimals and math.isfinite(value) and len(shown.partition(".")[2]) < decimals:
        shown = f"{value:.{decimals}f}"
    for decimals in (3, 4, 6):
        if shown not in limits or float(shown) == value:
            break
        shown = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return shown


def _significant_digits(number: str) -> int:
    """Significant digits of a reported number; trailing zeros of a whole number ("450")
    are taken as placeholders, not as precision."""
    digits = number.replace(".", "").lstrip("0") if "." in number else number.lstrip("0").rstrip("0")
    return len(digits) or 1


def _at_precision(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    if decimals <= 0:
        return str(int(round(value, decimals)))
    return f"{round(value, decimals):.{decimals}f}"


def shown_value(evidence: Evidence) -> str:
    """The value used, at the precision the laboratory reported it (133 pmol/L is 180 ng/L,
    not 180.215 ng/L). A value the engine derived (corrected calcium) has no reported form
    of its own and is rounded for reading."""
    reported = evidence.reported_value
    if evidence.derived or reported is None or not math.isfinite(evidence.value):
        return shown_number(evidence.value, evidence.cutoff_figures)
    return _at_precision(evidence.value, max(_significant_digits(number_text(reported)), 2))


def _value(evidence: Evidence, converted: bool = True) -> str:
    """The value as the laboratory reported it first, the converted value second:
    "1.2 mg/dL (0.49 mmol/L)"; a derived or unconverted value once: "2.00 mmol/L"."""
    comparator = evidence.comparator or ""
    used = f"{comparator}{shown_value(evidence)} {evidence.unit}".strip()
    if not evidence.derived and evidence.reported_unit and not reported_differs(evidence):
        # one number: in the laboratory's spelling of its unit (150 pg/mL, not 150 ng/L)
        return f"{comparator}{shown_value(evidence)} {evidence.reported_unit}".strip()
    if evidence.derived or not evidence.reported.strip() or not reported_differs(evidence):
        return used
    reported = one_line(evidence.reported)
    return f"{reported} ({used})" if converted else reported


def _named(evidence: Evidence, title: str, converted: bool = True) -> str:
    """The value, named when the title does not already say what was measured."""
    name = without_trailing_parenthetical(one_line(evidence.display))
    value = _value(evidence, converted)
    if not name or name.lower() in title.lower():
        return value
    return f"{name[0].lower()}{name[1:]} {value}"


def reported_differs(evidence: Evidence) -> bool:
    """Worth quoting: the reported number differs from the canonical one (pg/mL = ng/L is not)."""
    if evidence.derived or evidence.reported_value is None:
        return bool(evidence.reported.strip())
    return evidence.reported_value != float(shown_value(evidence))  # 2 and 2.0 are one number


def evidence_phrase(evidence: Evidence, title: str = "") -> str:
    """'111 pmol/L (150 ng/L) on 2026-09-02 (cut-off < 133 pmol/L)': the cut-off is in the unit
    the result was judged in, the laboratory's."""
    text = _named(evidence, title)
    when = date_part(evidence.effective)
    if when:
        text += f" on {when}"
    if evidence.cutoff:
        text += f" (cut-off {one_line(evidence.cutoff)})"
    return text


def _deciding_marker(finding: Finding) -> Evidence | None:
    """For a deficiency shown by MMA or homocysteine after a grey-zone B12, the marker."""
    primary = finding.primary
    if finding.topic is not Topic.B12_DEFICIENCY or primary is None:
        return None
    return next((e for e in finding.evidence if e.analyte in _MARKERS and e is not primary), None)


def _graded_values(finding: Finding) -> str | None:
    """'Potassium 6.8 mmol/L (severely high); sodium 134 mmol/L (slightly low)': a card on two
    analytes names both values, the most severe first."""
    graded = [e for e in finding.evidence if e.grade]
    if len(graded) < 2 or len({e.analyte for e in graded}) < 2:
        return None
    parts = [f"{_named(e, '')} ({e.grade})" for e in graded]
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def summary_for(finding: Finding) -> str:
    tests = finding.tests
    both = _graded_values(finding)
    if both is not None and finding.primary is not None:
        when = date_part(finding.primary.effective)
        candidates = [f"{both} on {when}" if when else both, both]
        return truncate(next((c for c in candidates if len(c) <= SUMMARY_MAX), candidates[-1]))
    title = one_line(finding.title) or finding.topic.value
    primary = finding.primary
    if primary is not None:
        marker = _deciding_marker(finding)
        when = date_part(primary.effective)
        dated = f" on {when}" if when else ""
        if marker is not None:
            # The grey-zone B12 alone does not make the diagnosis: name what does.
            marker_when = date_part(marker.effective)
            both = f"{title}: {_named(primary, title)} (grey zone) with {_named(marker, title)}"
            limit = f" (cut-off {one_line(marker.cutoff)})"
            candidates = [both + (f" on {marker_when}" if marker_when else "") + limit, both + limit, both]
        else:
            candidates = [f"{title}: {evidence_phrase(primary, title)}"]
        # Then drop the cut-off, then the converted value: the value as reported and the date matter.
        candidates.append(f"{title}: {_named(primary, title)}{dated}")
        candidates.append(f"{title}: {_named(primary, title, converted=False)}{dated}")
        return truncate(next((c for c in candidates if len(c) <= SUMMARY_MAX), candidates[-1]))
    if tests:
        # "(serum)" and similar qualifiers are on the orders; the summary keeps the names short.
        names = ", ".join(without_trailing_parenthetical(one_line(t.display)) for t in tests)
        return truncate(f"{title} ({names})" if ":" in title else f"{title}: order {names}")
    return truncate(title)
