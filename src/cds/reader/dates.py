"""FHIR date, dateTime and instant values as comparable points in time."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, order=True)
class When:
    """A point in time (UTC) plus the calendar day as written in the resource."""

    instant: datetime
    day: date
    raw: str


def last_day(when: When) -> date:
    """The last day a FHIR date can stand for: its own day, or the last day of the month or
    year a partial date ("2008-11", "2008") names."""
    precision = len(when.raw.strip()) if "T" not in when.raw else 10
    day = when.day
    if precision == 4:  # a year
        return date(day.year, 12, 31)
    if precision == 7:  # a year and month
        return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    return day


def has_ended(end: When, now: datetime) -> bool:
    """Whether a stated end has passed: a date alone runs to the end of that day; a dateTime
    ends at its instant."""
    if "T" in end.raw:
        return end.instant < now
    return end.day < now.date()


def parse_when(value: object) -> When | None:
    """Parse a FHIR date/dateTime/instant (see `_parse`); non-strings are None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    return _parse(value)


@lru_cache(maxsize=8192)  # charts repeat the same dates; parsing dominates per-result cost
def _parse(value: str) -> When | None:
    """Parse a FHIR date/dateTime/instant; a date alone counts as the start of that day (UTC).

    Partial dates (year, year-month) count as their first day. Anything else is None.
    """
    raw = value.strip()
    match = _PARTIAL.match(raw)
    try:
        if match:
            year, month, day = match.group(1), match.group(2) or "01", match.group(3) or "01"
            as_date = date(int(year), int(month), int(day))
            return When(datetime.combine(as_date, time(), UTC), as_date, value)
        if "T" not in raw:
            return None
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # FHIR requires a zone with a time; assume UTC rather than drop
        parsed = parsed.replace(tzinfo=UTC)
    return When(parsed.astimezone(UTC), parsed.date(), value)


def months_before(moment: datetime, months: int) -> date:
    """The calendar day `months` before `moment` (day clamped to the month's length)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = moment.day
    while day > 28:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1
    return date(year, month, day)


def as_utc(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def age_range(birth_date: object, today: date) -> tuple[int, int] | None:
    """(youngest, oldest) age in whole years the patient can be: the same for a full date; a
    partial date ("2008", "2008-11") spans its first to its last possible day, so "17 or 18".
    None when it is not a date or lies in the future."""
    if not isinstance(birth_date, str):
        return None
    match = _PARTIAL.match(birth_date.strip())
    earliest = parse_when(birth_date)
    if match is None or earliest is None or earliest.day > today:
        return None
    return age_years(min(last_day(earliest), today), today), age_years(earliest.day, today)


def age_years(birth: date, today: date) -> int:
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return years


def age_in_words(when: datetime, now: datetime) -> str:
    """How long before `now`, in words: "in the last hour", "5 hours ago", "12 days ago",
    "3 months ago", "about 2 years ago"."""
    hours = (now - when).total_seconds() / 3600
    if hours < 1:
        return "in the last hour"
    if hours < 2:
        return "1 hour ago"
    if hours < 48:
        return f"{int(hours)} hours ago"
    days = (now.date() - when.date()).days
    if days < 62:
        return f"{days} days ago"
    return f"{duration_words(when.date(), now.date())} ago"


def duration_words(start: date, today: date) -> str:
    """How long since `start`, in words a clinician reads at a glance: "less than a month",
    "5 months", "about 2 years"."""
    months = (today.year - start.year) * 12 + today.month - start.month - (today.day < start.day)
    if months < 1:
        return "less than a month"
    if months < 12:
        return f"{months} month{'s' if months > 1 else ''}"
    years, rest = divmod(months, 12)
    if years < 2 and rest:
        return f"1 year {rest} month{'s' if rest > 1 else ''}"
    plural = "s" if years > 1 else ""
    return f"about {years} year{plural}" if rest else f"{years} year{plural}"
