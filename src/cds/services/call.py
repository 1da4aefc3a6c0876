"""The call a service answers: the service, the parsed request, its data and "now"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cds.config import Settings
from cds.reader import Decoded, KeyState
from cds.services.definitions import ServiceDefinition
from cds.services.request import HookRequest


@dataclass(frozen=True)
class PrefetchResult:
    # key -> the decoded FHIR resource or Bundle (an empty Decoded where the EHR said it has none)
    data: dict[str, Decoded]
    # keys that could not be had, or only partly, and why (cards say what was missing)
    key_states: dict[str, KeyState] = field(default_factory=dict)
    # keys that were fetched from the FHIR server rather than prefetched
    fetched: tuple[str, ...] = ()

    @property
    def unavailable(self) -> dict[str, str]:
        """The keys missing or partial, with why, in words (logs, tests)."""
        return {
            key: f"incomplete: {state.detail}" if state.partial else state.detail
            for key, state in self.key_states.items()
        }


@dataclass(frozen=True)
class HookCall:
    service: ServiceDefinition
    request: HookRequest
    prefetch: PrefetchResult
    now: datetime
    settings: Settings
    base_url: str  # where this service is reached, for absolute links on cards
