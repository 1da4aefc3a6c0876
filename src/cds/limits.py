"""Input checks beyond JSON syntax: how many resources one prefetch key may hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds.errors import PayloadTooLarge


def resource_count(value: Any) -> int:
    """How many resources a prefetch value holds: a Bundle's entries, else one (or none for null)."""
    if isinstance(value, dict):
        entries = value.get("entry") if value.get("resourceType") == "Bundle" else None
        return len(entries) if isinstance(entries, list) else 1
    return 0


def check_resources_per_key(items: Mapping[str, Any], limit: int, *, where: str = "prefetch") -> None:
    """413 naming the first key that holds more than `limit` resources (max_resources_per_key).

    Called on the request's prefetch before any work, and usable on data fetched from a FHIR
    server, so one oversized search result cannot make a call take seconds of CPU.
    """
    for key, value in items.items():
        count = resource_count(value)
        if count > limit:
            raise PayloadTooLarge(
                f"{where} key '{str(key)[:100]}' holds {count} resources; the limit is {limit} "
                "(setting max_resources_per_key)",
                location=f"{where}.{str(key)[:100]}",
            )
