"""The knowledge version of a configuration (see cds.knowledge.version for what it hashes)."""

from __future__ import annotations

from typing import Any

from cds.config import CARD_SETTINGS, Settings
from cds.knowledge.version import KnowledgeVersion, files_digest, normal_settings, version_of


def card_settings(settings: Settings) -> dict[str, Any]:
    """The settings that decide a card, each in its normal form, by name."""
    return normal_settings({name: getattr(settings, name) for name in CARD_SETTINGS})


# Per Settings object, looked up by identity: a call pays a dictionary read, not a hash of its
# settings. The entry holds the settings, so their id cannot be reused while it lives.
_BY_SETTINGS: dict[int, tuple[Settings, KnowledgeVersion]] = {}


def knowledge_version(settings: Settings) -> KnowledgeVersion:
    hit = _BY_SETTINGS.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    found = KnowledgeVersion(version_of(files_digest(), card_settings(settings)), settings.knowledge_label)
    if len(_BY_SETTINGS) >= 32:  # a process has one or two (live, a candidate); tests make more
        _BY_SETTINGS.clear()
    _BY_SETTINGS[id(settings)] = (settings, found)
    return found
