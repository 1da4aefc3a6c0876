"""Whether the lists of results a call carried can tell that a test has no recent result.

Each prefetch key that carries results holds some analytes' results (the reader's
`Chart.result_keys`). An analyte's recent results are all known when one key carrying it came
whole, or as a newest-first page that reaches back past the look-back window: everything not
on that page is older still, so "no recent result" is certain. A key that was not sent,
failed, was not FHIR, or is a page that stops inside the window leaves it open. When no key
of the call carries the analyte at all, nothing says its results are missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from cds.reader import KeyState, When
from cds.reader.dates import last_day

# The farthest a local calendar day runs ahead of UTC (UTC+14): a result taken at some instant
# may be dated, as the laboratory wrote it, up to this much later.
ZONE_AHEAD = timedelta(hours=14)


def last_moment(when: When) -> datetime:
    """The latest instant a FHIR date can stand for: a dateTime's own instant, or the last
    moment of the day, month or year a date names (a server may sort it by any point of it)."""
    if "T" in when.raw:
        return when.instant
    return datetime.combine(last_day(when), time.max, UTC)


def reaches_back_past(oldest: When, window_start: date) -> bool:
    """Whether a newest-first page whose oldest result is `oldest` holds every result dated on
    or after `window_start`: every result after it on the list was taken no later, and so is
    dated before the window's first day in any time zone."""
    opens = datetime.combine(window_start, time(), UTC)
    last = last_moment(oldest)
    return last < opens and opens - last > ZONE_AHEAD


def holds_every_recent(state: KeyState | None, window_start: date) -> bool:
    """A key's list of results holds every result dated from `window_start` on: it came whole
    (no state), or it is a newest-first page that reaches back past the window's start."""
    if state is None:
        return True
    return state.partial and state.oldest is not None and reaches_back_past(state.oldest, window_start)


def results_known(
    result_keys: Mapping[str, frozenset[str]],
    states: Mapping[str, KeyState],
    window_start: date,
    analytes: Iterable[str],
) -> bool:
    """Whether the chart can tell that these analytes have no result dated from `window_start`
    on: for each, some key carrying it holds every such result, or no key carries it."""
    for analyte in analytes:
        carriers = [key for key, carried in result_keys.items() if analyte in carried]
        if carriers and not any(holds_every_recent(states.get(key), window_start) for key in carriers):
            return False
    return True
