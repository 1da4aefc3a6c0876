"""The call object a handler receives: the service, the parsed request, its data and "now"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds.config import Settings
from cds.services.definitions import ServiceDefinition
from cds.services.request import HookRequest


@dataclass(frozen=True)
class PrefetchResult:
    # key -> FHIR resource or Bundle as JSON; None where the EHR said it has no such data
    data: dict[str, Any]
    # optional keys that could not be had, with the reason (shown on cards as missing data)
    unavailable: dict[str, str] = field(default_factory=dict)
    # keys that were fetched from the FHIR server rather than prefetched
    fetched: tuple[str, ...] = ()


@dataclass(frozen=True)
class HookCall:
    service: ServiceDefinition
    request: HookRequest
    prefetch: PrefetchResult
    now: datetime
    settings: Settings
    base_url: str  # where this service is reached, for absolute links on cards
    # Cards of topics the site runs silently: built and recorded for the audit, never returned.
    silent_cards: list[dict[str, Any]] = field(default_factory=list)


Handler = Callable[[HookCall], dict[str, Any]]
