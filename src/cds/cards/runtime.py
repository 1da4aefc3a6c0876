"""Per-process state for the guideline service: knowledge loaded once per settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cds.config import Settings
from cds.knowledge import Knowledge, load_knowledge


@dataclass(frozen=True)
class Runtime:
    knowledge: Knowledge


@lru_cache(maxsize=8)
def _runtime(overrides: tuple[tuple[str, float], ...], recent_months: int) -> Runtime:
    return Runtime(load_knowledge(dict(overrides), recent_months))


def runtime_for(settings: Settings) -> Runtime:
    """Parsed on first use for these settings, then cached for the life of the process."""
    return _runtime(tuple(sorted(settings.cutoff_overrides.items())), settings.recent_months)


def knowledge_for(settings: Settings) -> Knowledge:
    return runtime_for(settings).knowledge
