"""Input checks beyond JSON syntax: how many resources one prefetch key may hold, and how much
of an upstream server's answer is read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests
import urllib3

from cds.errors import PayloadTooLarge


def check_resources_per_key(counts: Mapping[str, int], limit: int, *, where: str = "prefetch") -> None:
    """413 naming the first key that holds more than `limit` resources (max_resources_per_key).

    Called with each prefetch key's resource count before the chart is read, and usable on
    data fetched from a FHIR server, so one oversized search result cannot make a call take
    seconds of CPU.
    """
    for key, count in counts.items():
        if count > limit:
            raise PayloadTooLarge(
                f"{where} key '{str(key)[:100]}' holds {count} resources; the limit is {limit} "
                "(setting max_resources_per_key)",
                location=f"{where}.{str(key)[:100]}",
            )


class BodyRejected(Exception):
    """An upstream answer (FHIR server, key set) was not read in full; the message says why and
    `kind` names it for code ("too_large", "timeout" or "unreadable"), so no caller reads words."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


_READ_CHUNK = 64 * 1024


def read_body_bounded(
    response: requests.Response,
    *,
    max_bytes: int,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """The body of a response fetched with ``stream=True``: at most max_bytes, read by deadline.

    Without this, requests reads a whole body into memory, and its timeout bounds each socket
    read, not the total: a server sending hundreds of megabytes, or a byte every second, would
    hold a thread and its memory long after the call answered. Decoded (decompressed) bytes
    are counted, so a compressed bomb stops at the cap too. The caller closes the response.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyRejected(f"answer is larger than {max_bytes} bytes", "too_large")
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            if clock() > deadline:
                raise BodyRejected("answer was not received in time", "timeout")
            # read1: whatever arrives (one socket read at most), so a trickle cannot block past the deadline
            part = response.raw.read1(_READ_CHUNK, decode_content=True)
            if not part:
                break
            size += len(part)
            if size > max_bytes:
                raise BodyRejected(f"answer is larger than {max_bytes} bytes", "too_large")
            parts.append(part)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise BodyRejected(f"answer could not be read ({type(exc).__name__})", "unreadable") from None
    return b"".join(parts)
