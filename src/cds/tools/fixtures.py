"""Scenario fixtures: load them, list them, and shift their dates to another "now".

A fixture is `<name>.json` (description, now, service, intent, request) with its golden
cards in `<name>.expected.json`. Pure helpers only: no Flask, no HTTP, no clock reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cds.knowledge import ALL_FAMILIES, Knowledge
from cds.services.definitions import ServiceDefinition

GOLDEN_SUFFIX = ".expected.json"

# FHIR date and dateTime values: YYYY-MM-DD with an optional time and zone.
_DATE_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})"
    r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?$"
)


class FixtureError(ValueError):
    """A fixture cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    description: str
    now: datetime
    service: str
    intent_topics: tuple[str, ...]
    intent_notes: str
    request: dict[str, Any]

    @property
    def golden_path(self) -> Path:
        return self.path.with_name(self.name + GOLDEN_SUFFIX)

    def load_golden(self) -> dict[str, Any] | None:
        """The golden cards, or None when no golden was recorded yet."""
        if not self.golden_path.exists():
            return None
        data = _read_json(self.golden_path)
        if not isinstance(data, dict) or not isinstance(data.get("cards"), list):
            raise FixtureError(f"{self.golden_path}: expected an object with a 'cards' list")
        return data


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant with a zone ('Z' or an offset); naive times are refused."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{text}' is not an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise ValueError(f"'{text}' has no time zone")
    return value


def _read_json(path: Path) -> Any:
    """A fixture or golden file's JSON; any problem is a FixtureError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FixtureError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise FixtureError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FixtureError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def is_fixture_file(path: Path) -> bool:
    return path.suffix == ".json" and not path.name.endswith(GOLDEN_SUFFIX)


def load_fixture(path: str | Path) -> Fixture:
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise FixtureError(f"{path}: expected a JSON object")
    for key, kind in (("now", str), ("service", str), ("request", dict)):
        if not isinstance(data.get(key), kind):
            raise FixtureError(f"{path}: field '{key}' is missing or not a {kind.__name__}")
    try:
        now = parse_instant(data["now"])
    except ValueError as exc:
        raise FixtureError(f"{path}: field 'now': {exc}") from None
    intent = data.get("intent") if isinstance(data.get("intent"), dict) else {}
    topics = intent.get("topics") if isinstance(intent.get("topics"), list) else []
    return Fixture(
        name=path.name[: -len(".json")],
        path=path,
        description=str(data.get("description", "")),
        now=now,
        service=data["service"],
        intent_topics=tuple(str(t) for t in topics),
        intent_notes=str(intent.get("notes", "")),
        request=data["request"],
    )


def fixture_paths(targets: list[str | Path]) -> list[Path]:
    """Expand files and directories (every fixture directly inside) into fixture files."""
    paths: list[Path] = []
    for target in targets:
        target = Path(target)
        if target.is_dir():
            paths.extend(sorted(p for p in target.glob("*.json") if is_fixture_file(p)))
        elif target.exists():
            if is_fixture_file(target):  # a shell glob like fixtures/order-*.json also names goldens
                paths.append(target)
        else:
            raise FixtureError(f"{target}: no such file or directory")
    return paths


def list_fixtures(directory: str | Path) -> list[Fixture]:
    """Every readable fixture in a directory; unreadable ones are skipped (the page lists the rest)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    result = []
    for path in sorted(directory.glob("*.json")):
        if is_fixture_file(path):
            try:
                result.append(load_fixture(path))
            except FixtureError:
                continue
    return result


def _shift_value(text: str, days: int) -> str:
    match = _DATE_RE.match(text)
    if not match:
        return text
    try:
        day = date.fromisoformat(match.group(1))
    except ValueError:
        return text
    return (day + timedelta(days=days)).isoformat() + (match.group(2) or "")


def shift_dates(data: Any, days: int) -> Any:
    """A copy of `data` with every FHIR date or dateTime string moved by whole days.

    Whole days keep date-only fields (birthDate, onset) consistent with dateTimes, so ages
    and "within 12 months" mean the same after the shift.
    """
    if days == 0:
        return json.loads(json.dumps(data))
    if isinstance(data, dict):
        return {key: shift_dates(value, days) for key, value in data.items()}
    if isinstance(data, list):
        return [shift_dates(value, days) for value in data]
    if isinstance(data, str):
        return _shift_value(data, days)
    return data


def days_between(fixture_now: datetime, real_now: datetime) -> int:
    """Whole days to add to a fixture's dates so its `now` lands on `real_now`'s date."""
    return (real_now.astimezone(UTC).date() - fixture_now.astimezone(UTC).date()).days


def request_for(fixture: Fixture, real_now: datetime | None = None) -> dict[str, Any]:
    """The fixture's hook request, dates shifted to `real_now` (or unchanged when None)."""
    if real_now is None:
        return shift_dates(fixture.request, 0)
    return shift_dates(fixture.request, days_between(fixture.now, real_now))


# --------------------------------------------------------------------------- former keys
def _family(resource: Any, knowledge: Knowledge) -> str | None:
    """The family of an Observation's first coding the knowledge reads, else None."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return None
    concept = resource.get("code")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for coding in codings if isinstance(codings, list) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        analyte = knowledge.analyte_for_loinc(code) if isinstance(code, str) else None
        if analyte is not None:
            return knowledge.labs[analyte].family
    return None


def _matches(entries: Iterable[Any]) -> int:
    """Entries a searchset's `total` counts: not those brought in by _include or an outcome."""
    return sum(1 for e in entries if not (isinstance(e, dict) and _search_mode(e) in ("include", "outcome")))


def _search_mode(entry: dict[str, Any]) -> Any:
    search = entry.get("search")
    return search.get("mode") if isinstance(search, dict) else None


def _partial(bundle: dict[str, Any], entries: list[Any]) -> bool:
    links = bundle.get("link") if isinstance(bundle.get("link"), list) else []
    total = bundle.get("total")
    return any(isinstance(link, dict) and link.get("relation") == "next" for link in links) or (
        isinstance(total, int) and total > _matches(entries)
    )


def split_former_keys(
    prefetch: dict[str, Any], service: ServiceDefinition, knowledge: Knowledge
) -> dict[str, Any]:
    """A prefetch sent under a former key (one Bundle of every result) as the current keys
    would carry it: each entry under the key of its family (labs.json), in the same order;
    entries of no family (other tests, other resources, a search OperationOutcome) under the
    last of the keys. Keys stay in place; a former key sent beside its current keys, and a
    partial page (which key's list would be partial cannot be told), are refused."""
    result: dict[str, Any] = {}
    for key, value in prefetch.items():
        currents = service.former_prefetch.get(key)
        if currents is None:
            result[key] = value
            continue
        if any(c in prefetch for c in currents):
            raise FixtureError(f"prefetch has {key!r} beside the keys that replace it")
        if value is None:
            result.update(dict.fromkeys(currents))
            continue
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            raise FixtureError(f"prefetch {key!r} is not a Bundle")
        entries = value.get("entry") if isinstance(value.get("entry"), list) else []
        if _partial(value, entries):
            raise FixtureError(f"prefetch {key!r} is one page of a longer list and cannot be split")
        by_family = {service.observation_keys.get(c): c for c in currents}
        split: dict[str, list[Any]] = {c: [] for c in currents}
        for entry in entries:
            family = _family(entry.get("resource") if isinstance(entry, dict) else None, knowledge)
            split[by_family.get(family) or by_family.get(ALL_FAMILIES) or currents[-1]].append(entry)
        for current, chosen in split.items():
            bundle = {field: v for field, v in value.items() if field not in ("entry", "total")}
            if "total" in value:
                bundle["total"] = _matches(chosen)
            bundle["entry"] = chosen
            result[current] = bundle
    return result
