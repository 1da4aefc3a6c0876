"""The knowledge a site's settings give: loaded once per distinct settings, per process."""

from __future__ import annotations

from functools import lru_cache

from cds.config import Settings
from cds.knowledge import Knowledge, load_knowledge


@lru_cache(maxsize=8)
def _knowledge(overrides: tuple[tuple[str, float], ...], recent_months: int) -> Knowledge:
    return load_knowledge(dict(overrides), recent_months)


def knowledge_for(settings: Settings) -> Knowledge:
    """Parsed on first use for these settings, then cached for the life of the process."""
    return _knowledge(tuple(sorted(settings.cutoff_overrides.items())), settings.recent_months)
