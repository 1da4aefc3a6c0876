"""Which caveats a card shows: at most two, each saying something the card does not already say.

A caveat that asks for a test (knowledge notes.json `asks`) is dropped when the card offers that
test, names the card that offers it, or the chart has a recent result of it: the order line
already says it. Of the rest, a caveat the rule marked as fitting this chart (`fitting_notes`:
twitching since B12 was started, kidney impairment with magnesium) comes first, then by
priority (1 is safety-critical), then in the rule's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cds.engine.facts import PatientFacts
from cds.engine.guard import recent_loincs
from cds.engine.model import Finding
from cds.knowledge import Knowledge

MAX_CAVEATS = 2


def _covered(finding: Finding, recent: frozenset[str], knowledge: Knowledge) -> set[str]:
    """Test keys the card already deals with: offered, offered elsewhere, or recently done."""
    keys = {t.key for t in finding.tests} | {t.key for t in finding.tests_elsewhere}
    keys |= {key for key in knowledge.test_loincs if knowledge.test_loincs[key] & recent}
    return keys


def chosen_caveats(finding: Finding, covered: set[str], knowledge: Knowledge) -> tuple[str, ...]:
    known = [key for key in dict.fromkeys(finding.notes) if key in knowledge.notes]
    said = [
        key
        for key in known
        if not (knowledge.note_asks.get(key) and set(knowledge.note_asks[key]) <= covered)
    ]
    fitting = set(finding.fitting_notes)
    ranked = sorted(said, key=lambda key: (key not in fitting, knowledge.note_priority.get(key, 5)))
    return tuple(ranked[:MAX_CAVEATS])


def choose_caveats(findings: Iterable[Finding], facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    done = list(findings)
    if not any(f.notes for f in done):
        return done
    recent = recent_loincs(facts, knowledge)
    out = []
    for finding in done:
        notes = chosen_caveats(finding, _covered(finding, recent, knowledge), knowledge)
        out.append(finding if notes == finding.notes else replace(finding, notes=notes))
    return out
