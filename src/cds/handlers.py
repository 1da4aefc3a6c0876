"""Service handlers: the code a service definition's myelin.handler names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds.config import Settings
from cds.hookrequest import HookRequest
from cds.prefetch import PrefetchResult
from cds.services import ServiceDefinition


@dataclass(frozen=True)
class HookCall:
    service: ServiceDefinition
    request: HookRequest
    prefetch: PrefetchResult
    now: datetime
    settings: Settings
    base_url: str  # where this service is reached, for absolute links on cards


Handler = Callable[[HookCall], dict[str, Any]]


def guideline_handler(call: HookCall) -> dict[str, Any]:
    # Imported here: the card package refers back to HookCall from this module.
    from cds.cards.guideline import guideline_response

    return guideline_response(call)


def orders_handler(call: HookCall) -> dict[str, Any]:
    from cds.cards.orders import orders_response

    return orders_response(call)


HANDLERS: dict[str, Handler] = {"guideline": guideline_handler, "orders": orders_handler}
