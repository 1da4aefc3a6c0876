"""A candidate configuration: the live settings with another file's card settings on top.

A shadow pilot (`shadow_config`) assesses every call under it; `cds knowledge diff --shadow`
shows what it changes. The candidate takes from its file the card settings (config.
CARD_SETTINGS) the file names, and `knowledge_label` (its own name, or none); every other
setting, and every card setting the file does not name, stays the live one. So the file can
hold only the change (`[cutoff_overrides]` alone), or be the whole next configuration.
"""

from __future__ import annotations

from typing import Any

from cds.change.rules import check_card_settings
from cds.config import CARD_SETTINGS, ConfigError, Settings, load_settings, read_toml


def candidate_settings(live: Settings, path: str) -> Settings:
    """The live settings with the candidate file's card settings and label on top (ConfigError
    naming the file and the problem when it cannot be used)."""
    named = read_toml(path, "shadow_config")
    parsed = load_settings(path, environ={})  # the whole file checked as a configuration
    taken: dict[str, Any] = {name: getattr(parsed, name) for name in CARD_SETTINGS if name in named}
    taken["knowledge_label"] = parsed.knowledge_label  # the candidate's own name, or none
    candidate = live.with_overrides(**taken)
    try:
        check_card_settings(candidate)
    except ValueError as exc:
        raise ConfigError(f"shadow_config {path}: {exc}") from None
    return candidate
