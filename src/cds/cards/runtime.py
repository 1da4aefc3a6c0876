"""Per-process state for the guideline service: knowledge loaded once per settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from cds.config import Settings
from cds.knowledge import Knowledge, load_knowledge


@dataclass(frozen=True)
class Runtime:
    knowledge: Knowledge
    # LOINC -> every LOINC of the same analyte, so a molar result counts for a mass-unit test
    same_test: Mapping[str, tuple[str, ...]]


@lru_cache(maxsize=8)
def _runtime(overrides: tuple[tuple[str, float], ...], recent_months: int) -> Runtime:
    knowledge = load_knowledge(dict(overrides), recent_months)
    same = {code: lab.loincs for lab in knowledge.labs.values() for code in lab.loincs}
    return Runtime(knowledge, same)


def runtime_for(settings: Settings) -> Runtime:
    """Parsed on first use for these settings, then cached for the life of the process."""
    return _runtime(tuple(sorted(settings.cutoff_overrides.items())), settings.recent_months)


def knowledge_for(settings: Settings) -> Knowledge:
    return runtime_for(settings).knowledge
