"""The knowledge version on a card: which rules built it, for the EHR's records and the audit."""

from __future__ import annotations

from typing import Any

from cds.change.version import knowledge_version
from cds.config import Settings

# CDS Hooks lets a card carry `extension`; EHRs ignore keys they do not know. Discovery and
# /healthz name the version under the same key.
VERSION_EXTENSION = "io.github.myelin-cds.knowledge-version"


def with_version(cards: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """The cards, each with `extension` naming the knowledge version of these settings."""
    if cards:
        stamp = knowledge_version(settings).as_json()
        for card in cards:
            card["extension"] = {VERSION_EXTENSION: dict(stamp)}
    return cards
