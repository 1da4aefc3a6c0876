"""Input checks beyond JSON syntax: resources per prefetch key, valid Unicode, finite numbers."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from cds.errors import BadRequest, PayloadTooLarge


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


# A \uD800-\uDFFF escape in the raw text is the only way a lone surrogate can enter a str here.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def check_valid_unicode(text: str, data: Any) -> None:
    """400 when a JSON string holds an unpaired surrogate escape (e.g. "\\ud800").

    Such a string is not Unicode text: it cannot be written back as UTF-8 (responses, logs,
    the feedback database), so it is refused at the door. Paired escapes (emoji) are fine.
    """
    if "\\u" not in text or not _SURROGATE_ESCAPE.search(text):
        return
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(
            "request body contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff); "
            "strings must be valid Unicode"
        ) from None


def finite_float(literal: str) -> float:
    """parse_float for json.loads: 1e400 would silently become infinity, so refuse it."""
    value = float(literal)
    if math.isinf(value):
        raise BadRequest(f"request body contains a number out of range: {literal[:40]}")
    return value
