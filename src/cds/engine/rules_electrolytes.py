"""Calcium, magnesium, potassium and sodium: each rule on its own module, and the one pass
that links them.

When magnesium is low in the same sample as a low calcium or a low potassium, the calcium and
potassium will not hold until magnesium is corrected: those cards say "magnesium first" and
point at the magnesium card, which points back, so the reader sees one plan, not four checks.
"""

from __future__ import annotations

from dataclasses import replace

from cds.engine.building import DIURETICS
from cds.engine.electrolyte_grading import taken_together
from cds.engine.facts import PatientFacts
from cds.engine.model import Finding, Severity, Topic
from cds.engine.rules_calcium import calcium_findings
from cds.engine.rules_magnesium import low_magnesium, magnesium_findings
from cds.engine.rules_potassium_sodium import potassium_sodium_findings
from cds.knowledge import Knowledge

__all__ = ["DIURETICS", "electrolyte_findings"]

_LINKED = (Topic.HYPOCALCEMIA, Topic.ELECTROLYTE_IMBALANCE)


def _low_with_magnesium(finding: Finding) -> bool:
    """A current (not recheck) card for low calcium, or with low potassium, on it."""
    if finding.severity is Severity.INFO or finding.topic not in _LINKED:
        return False
    if finding.topic is Topic.HYPOCALCEMIA:
        return True
    return any(e.analyte == "potassium" and "low" in e.grade for e in finding.evidence)


def _link_magnesium_first(
    findings: list[Finding], facts: PatientFacts, knowledge: Knowledge
) -> list[Finding]:
    magnesium = low_magnesium(facts, knowledge)
    card = next(
        (f for f in findings if f.topic is Topic.HYPOMAGNESEMIA and f.severity is not Severity.INFO), None
    )
    if magnesium is None or card is None:
        return findings
    # The results behind each evidence row (a derived calcium names its total calcium first).
    by_reference = {r.reference: r for results in facts.labs.values() for r in results}
    linked: list[Finding] = []
    out = []
    for finding in findings:
        behind = (by_reference.get(e.reference.split(" + ")[0]) for e in finding.evidence)
        together = any(r is not None and taken_together(magnesium, r) for r in behind)
        if _low_with_magnesium(finding) and together:
            note = (
                "magnesium-first-calcium"
                if finding.topic is Topic.HYPOCALCEMIA
                else "magnesium-first-potassium"
            )
            finding = replace(
                finding,
                notes=(note, *finding.notes),
                fitting_notes=(note, *finding.fitting_notes),
                see_also=(*finding.see_also, card.title),
            )
            linked.append(finding)
        out.append(finding)
    if not linked:
        return findings
    # The magnesium card points at the linked cards instead of asking to "check both", and
    # beside a critical calcium or potassium it is replaced intravenously too.
    notes = tuple(n for n in card.notes if n != "hypomagnesemia-calcium")
    advice = card.advice
    if any(f.severity is Severity.CRITICAL for f in linked):
        advice = ("magnesium-severe-replace",)
    linked_card = replace(
        card, see_also=(*card.see_also, *(f.title for f in linked)), notes=notes, advice=advice
    )
    return [linked_card if f is card else f for f in out]


def electrolyte_findings(facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    findings = [
        *magnesium_findings(facts, knowledge),
        *calcium_findings(facts, knowledge),
        *potassium_sodium_findings(facts, knowledge),
    ]
    return _link_magnesium_first(findings, facts, knowledge)
