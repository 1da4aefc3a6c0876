"""Results that cannot be read: effectively missing, so the card names them and offers the test again.

A result with no number, a text value, a reason its value is absent, an unknown unit or a
value outside physiological limits never drives a finding. When it is the only recent
result of its test, that test is as good as not done: say which result and why, and offer
to repeat it (other rules that already ask for the test carry the same explanation).
"""

from __future__ import annotations

from dataclasses import replace

from cds.engine.building import recommend_test, set_aside_gaps
from cds.engine.facts import PatientFacts
from cds.engine.model import DataGap, Finding, Severity, Topic
from cds.knowledge import Knowledge
from cds.reader import SetAside, SetAsideKind


def unreadable_results(facts: PatientFacts) -> list[SetAside]:
    """Unreadable results in the window of tests that have no usable recent result."""
    if not facts.results_known(*facts.labs, *(item.analyte for item in facts.set_aside)):
        return []
    return [
        item
        for item in facts.set_aside
        if item.kind.retest
        and facts.recent(item.analyte) is None
        # an old unreadable result is as stale as an old readable one
        and (item.when is None or item.when.day >= facts.window_start)
    ]


def unreadable_finding(items: list[SetAside], knowledge: Knowledge) -> Finding | None:
    """The card for `items` (unreadable_results): which results and why, and their repeats."""
    gaps: list[DataGap] = set_aside_gaps(items, knowledge)
    tests = []
    names: list[str] = []
    for item in items:
        lab = knowledge.labs[item.analyte]
        if lab.test and lab.test not in {t.key for t in tests}:
            names.append(lab.display if not names else lab.display[0].lower() + lab.display[1:])
            why = "repeats a result that could not be read"
            why = "repeats results that conflict" if item.kind is SetAsideKind.CONFLICT else why
            tests.append(recommend_test(knowledge, lab.test, why))
    if not tests:
        return None
    named = " and ".join(names) if len(names) <= 2 else f"{len(names)} test"
    if all(item.kind is SetAsideKind.CONFLICT for item in items):
        title = f"{named} results conflict"
    else:
        title = f"{named} result{'s' if len(names) > 1 else ''} could not be read"
    return Finding(
        topic=Topic.RESULT_UNREADABLE,
        severity=Severity.INFO,
        title=title,
        gaps=tuple(gaps),
        tests=tuple(tests),
        notes=("unreadable-result",),
        sources=("codes-reference",),
    )


def explain_repeats(findings: list[Finding], facts: PatientFacts, knowledge: Knowledge) -> list[Finding]:
    """Each card that asks for a test whose only recent result is unreadable says so; the
    unreadable-result card keeps only the repeats no other card asks for (one order per test)."""
    items = unreadable_results(facts)
    if not items:
        return findings
    result = []
    asked: set[str] = set()
    for finding in findings:
        keys = {t.key for t in finding.tests}
        asked |= keys
        named = set(finding.gaps)
        wanted = [item for item in items if knowledge.labs[item.analyte].test in keys]
        extra = tuple(gap for gap in set_aside_gaps(wanted, knowledge) if gap not in named)
        result.append(replace(finding, gaps=finding.gaps + extra) if extra else finding)
    unreadable = unreadable_finding(items, knowledge)
    if unreadable is not None:
        tests = tuple(t for t in unreadable.tests if t.key not in asked)
        if tests:
            result.append(replace(unreadable, tests=tests))
    return result
