"""One order per test per answer: a test several findings need is offered on the first card only.

Accepting every card of one answer must never create two orders for the same test (a low
magnesium card and the twitching work-up both need potassium, calcium and albumin). The
findings arrive in card order (most severe first); a later finding names the test and the card
that offers it instead of offering it again, and a finding that only asks for tests is dropped
when every one of them is already offered elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

from cds.engine.model import Finding, SharedTest, Topic

# Findings whose only purpose is to ask for tests: nothing is left to say once all are elsewhere.
TESTING_ONLY = frozenset(
    {
        Topic.TWITCHING_WORKUP,
        Topic.B12_TESTING_RECOMMENDED,
        Topic.MAGNESIUM_TESTING_RECOMMENDED,
        Topic.RESULT_UNREADABLE,
    }
)


def offer_each_test_once(
    findings: list[Finding], hidden_topics: frozenset[str] = frozenset()
) -> list[Finding]:
    """Findings (in card order) with every test offered by the first finding that needs it.

    A finding of a hidden topic (one the site runs silently or not at all) keeps its tests and
    takes none from the others: the clinician sees what they would see without that rule."""
    offered: dict[str, str] = {}  # test key -> title of the finding that offers it
    result = []
    for finding in findings:
        if finding.topic.value in hidden_topics:
            result.append(finding)
            continue
        own = tuple(t for t in finding.tests if t.key not in offered)
        shared = tuple(
            SharedTest(t.display, offered[t.key], t.key) for t in finding.tests if t.key in offered
        )
        for t in own:
            offered[t.key] = finding.title
        if not shared:
            result.append(finding)
        elif not own and finding.topic in TESTING_ONLY:
            continue
        else:
            result.append(replace(finding, tests=own, tests_elsewhere=finding.tests_elsewhere + shared))
    return result
