"""Resolve a service's prefetch data from the request (and, where missing, the FHIR server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.config import Settings
from cds.errors import PreconditionFailed
from cds.hookrequest import HookRequest
from cds.services import ServiceDefinition


@dataclass(frozen=True)
class PrefetchResult:
    # key -> FHIR resource or Bundle as JSON; None where the EHR said it has no such data
    data: dict[str, Any]
    # optional keys that could not be had, with the reason (shown on cards as missing data)
    unavailable: dict[str, str] = field(default_factory=dict)
    # keys that were fetched from the FHIR server rather than prefetched
    fetched: tuple[str, ...] = ()


def _is_operation_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def resolve_prefetch(
    service: ServiceDefinition, request: HookRequest, settings: Settings
) -> PrefetchResult:
    data: dict[str, Any] = {}
    missing: list[str] = []
    for key in service.prefetch:
        if key in request.prefetch and not _is_operation_outcome(request.prefetch[key]):
            data[key] = request.prefetch[key]
        else:
            missing.append(key)
    required_missing = [k for k in missing if k in service.required_prefetch]
    if required_missing:
        raise PreconditionFailed(
            f"prefetch data missing for {', '.join(required_missing)} and no FHIR server fallback"
        )
    return PrefetchResult(data=data, unavailable={k: "not provided" for k in missing})
