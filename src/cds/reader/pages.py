"""A FHIR server's answer as JSON: whether it is a resource, a Bundle page, and its next link.

The FHIR client pages through search results with these; the pages it gathers are then
decoded like any prefetch value.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin


def answer_problem(body: Any) -> str | None:
    """Why a server's answer is not data the service can use, or None when it is."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        return "FHIR server answer is not a FHIR resource"
    if body["resourceType"] == "OperationOutcome":
        return "FHIR server answered with an OperationOutcome"
    return None


def is_bundle(body: dict[str, Any]) -> bool:
    return body.get("resourceType") == "Bundle"


def page_entries(page: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The page's entries (none when it has none), or None when `entry` is not a list."""
    entries = page.get("entry")
    if entries is None:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None


def envelope(page: dict[str, Any]) -> dict[str, Any]:
    """A Bundle page without its entries and links: what a merged answer keeps of the first."""
    return {k: v for k, v in page.items() if k not in ("entry", "link")}


def with_entries(bundle: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {**bundle, "entry": entries}


def next_url(links: object) -> str | None:
    """The url of a Bundle's `link` entry with relation "next", as written (None when absent)."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def next_page(bundle: dict[str, Any], current_url: str) -> str | None:
    """The next page of a search answer, resolved against the page's own URL."""
    url = next_url(bundle.get("link"))
    return None if url is None else urljoin(current_url, url)
