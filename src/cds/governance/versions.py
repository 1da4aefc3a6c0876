"""The committee's figures split by knowledge version, and the weeks a new version took effect.

Pure: the period's cards, their feedback and the calls per version in; per version the same
figures as the whole report (governance.figures) out, so a change's before and after read side
by side. Records kept before versions were have no version: they are shown as "unversioned".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from cds.governance.figures import (
    CardFact,
    FatigueRule,
    FeedbackFact,
    VersionFigures,
    Week,
    build_report,
    week_start,
)


def split_by_version(
    cards: Sequence[CardFact],
    feedback: Sequence[FeedbackFact],
    *,
    calls_by_version: Mapping[str | None, Mapping[str, int]],
    fatigue: FatigueRule,
    labels: Mapping[str, str],
    first_live: Mapping[str, datetime | None],
    since: datetime | None,
    until: datetime | None,
    modes: Mapping[str, str] | None = None,
    displays: Mapping[str, str] | None = None,
) -> list[VersionFigures]:
    """One VersionFigures per version with calls or cards in the period, oldest first."""
    by_version: dict[str | None, list[CardFact]] = {version: [] for version in calls_by_version}
    for card in cards:
        by_version.setdefault(card.knowledge_version, []).append(card)
    result = []
    for version, own in by_version.items():
        calls = dict(calls_by_version.get(version, {}))
        figures = build_report(own, feedback, calls_by_service=calls, unmatched_feedback=0,
                               fatigue=fatigue, modes=modes, displays=displays)  # fmt: skip
        started = first_live.get(version) if version else None
        took_effect = (
            started is not None and (since is None or started >= since) and (until is None or started < until)
        )
        label = labels.get(version, "") if version else ""
        result.append(VersionFigures(version, label, started, took_effect, calls, figures.topics))
    return sorted(result, key=_oldest_first)


def _oldest_first(figures: VersionFigures) -> tuple[int, str, str]:
    # Unversioned records come from before any version; a version never seen live (its rows
    # outlived its registry entry) sorts last.
    if figures.version is None:
        return (0, "", "")
    started = figures.first_live.isoformat() if figures.first_live else "~"
    return (1, started, figures.version)


def mark_new_versions(weeks: Iterable[Week], versions: Iterable[VersionFigures]) -> list[Week]:
    """The weeks, each naming the versions that took effect in it (a week without cards is
    added for a version that took effect in it, so the trend can show the switch)."""
    starts: dict = {}
    for figures in versions:
        if figures.took_effect and figures.version and figures.first_live:
            starts.setdefault(week_start(figures.first_live), []).append(figures.version)
    found = {week.start: week for week in weeks}
    for start in starts:
        found.setdefault(start, Week(start, 0, 0, 0, 0))
    return [replace(found[start], new_versions=tuple(starts.get(start, ()))) for start in sorted(found)]
