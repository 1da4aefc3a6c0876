"""Topic modes: which rules a site shows (active), only records (silent) or does not run (off).

A silent topic must leave the clinician's screen exactly as if its rule did not exist: its
finding is built into cards for the audit but returned nowhere, and it absorbs no other topic
(the twitching work-up, when silent, leaves the single B12 and magnesium testing cards shown).
An off topic is dropped before any card is built and absorbs nothing either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cds.config import ConfigError, Settings
from cds.engine.model import Finding
from cds.knowledge import Knowledge

ACTIVE, SILENT, OFF = "active", "silent", "off"


@dataclass(frozen=True)
class TopicModes:
    modes: Mapping[str, str]

    def mode(self, topic: str) -> str:
        return self.modes.get(topic, ACTIVE)

    @property
    def hidden(self) -> frozenset[str]:
        """Topics whose cards the clinician does not see (silent or off)."""
        return frozenset(code for code, mode in self.modes.items() if mode != ACTIVE)

    def split(self, findings: Sequence[Finding]) -> tuple[list[Finding], list[Finding]]:
        """(findings to show, findings to record silently); off topics are in neither."""
        shown = [f for f in findings if self.mode(f.topic.value) == ACTIVE]
        silent = [f for f in findings if self.mode(f.topic.value) == SILENT]
        return shown, silent


def topic_modes(settings: Settings) -> TopicModes:
    return TopicModes(settings.topic_modes)


def check_topic_modes(settings: Settings, knowledge: Knowledge) -> None:
    """Start-up check: every topic code named in `topic_modes` is one the service can produce."""
    known = knowledge.topics
    unknown = sorted(code for code in settings.topic_modes if code not in known)
    if unknown:
        raise ConfigError(
            f"setting 'topic_modes': unknown topic codes {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
