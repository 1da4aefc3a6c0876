"""Resolve a service's prefetch data from the request and, where missing, the FHIR server.

Rules (docs/prefetch.md):
- a key present with a resource or Bundle is used as is; present with null means the EHR
  has no such data (None, not an error); an OperationOutcome in its place counts as missing;
- missing keys are fetched from `fhirServer` with the request's bearer token, all at once,
  but only when that server's origin is on settings.fhir_allowed_servers;
- a required key that cannot be had answers 412 naming the keys and reasons; an optional
  key that cannot be had is listed in `PrefetchResult.unavailable` and the call goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cds.config import Settings
from cds.errors import PreconditionFailed
from cds.fhir.client import FhirClient, parse_origin, server_allowed, warn_server_not_allowed
from cds.services.call import PrefetchResult
from cds.services.definitions import ServiceDefinition
from cds.services.request import HookRequest


class TemplateError(ValueError):
    """A prefetch template token cannot be filled for this request; the message says which."""


_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


def _token_value(name: str, context: Mapping[str, Any]) -> str:
    if name.startswith("context."):
        field_name = name.removeprefix("context.")
        value = context.get(field_name)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float) and value != "":
            return str(value)
        if value is None:
            raise TemplateError(f"context has no '{field_name}' for {{{{{name}}}}}")
        raise TemplateError(f"context.{field_name} is not a single value")
    resource_type = _USER_TOKENS.get(name)
    if resource_type is None:
        raise TemplateError(f"template token {{{{{name}}}}} is not supported")
    user = context.get("userId")
    prefix = f"{resource_type}/"
    if not isinstance(user, str) or not user.startswith(prefix) or len(user) == len(prefix):
        raise TemplateError(f"{{{{{name}}}}} needs a {resource_type} user")
    return user.removeprefix(prefix)


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace CDS Hooks 2.0 tokens; values are URL-encoded so they cannot add parameters."""
    filled = _TOKEN.sub(lambda m: quote(_token_value(m.group(1), context), safe=""), template)
    if "{{" in filled or "}}" in filled:
        raise TemplateError("template has a malformed token")
    return filled


def _is_operation_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _precondition_failed(reasons: Mapping[str, str]) -> PreconditionFailed:
    listed = "; ".join(f"{key}: {reason}" for key, reason in reasons.items())
    return PreconditionFailed(f"required prefetch data unavailable ({listed})", location="prefetch")


def obj_of(value: Any, key: str) -> dict[str, Any]:
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def incomplete_reason(value: Any) -> str | None:
    """Why a prefetched Bundle is only part of the answer, or None when it says it is whole.

    A searchset that carries a `next` link, or a `total` larger than the matches it holds, is
    one page of a longer list: judged like a fetch that could not get every page."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return None
    entries = value.get("entry") if isinstance(value.get("entry"), list) else []
    total = value.get("total")
    links = value.get("link") if isinstance(value.get("link"), list) else []
    has_next = any(isinstance(link, dict) and link.get("relation") == "next" for link in links)
    counted = isinstance(total, int) and not isinstance(total, bool)
    if not counted and not has_next:
        return None  # nothing says it is partial: the entries need not be counted
    # `total` counts matches only; resources brought in by _include are not part of it.
    included = 0
    for entry in entries:  # a plain loop: this runs over every entry of every call's Bundles
        search = entry.get("search") if isinstance(entry, dict) else None
        if isinstance(search, dict) and search.get("mode") == "include":
            included += 1
    matches = len(entries) - included
    if counted and total > matches:
        return f"incomplete: the EHR sent {matches} of {total} entries"
    if has_next:
        return f"incomplete: the EHR sent one page ({matches} entries) and did not follow the next link"
    return None


def resolve_prefetch(
    service: ServiceDefinition,
    request: HookRequest,
    settings: Settings,
    client: FhirClient | None = None,
) -> PrefetchResult:
    """The data for every prefetch key of the service, or 412 when a required key is missing."""
    data: dict[str, Any] = {}
    missing: dict[str, str] = {}  # key -> why the request did not carry it
    for key in service.prefetch:
        if key not in request.prefetch:
            missing[key] = "not prefetched"
        elif _is_operation_outcome(request.prefetch[key]):
            missing[key] = "the EHR's prefetch failed (OperationOutcome)"
        else:
            data[key] = request.prefetch[key]
    # Partial lists are used for what they hold, but are never taken as the whole list.
    partial = {key: why for key in data if (why := incomplete_reason(data[key])) is not None}
    if not missing:
        return PrefetchResult(data=data, unavailable=partial)

    failed: dict[str, str] = {}
    queries: dict[str, str] = {}
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    for key, why in missing.items():
        try:
            path = fill_template(service.prefetch[key], request.context)
        except TemplateError as exc:
            failed[key] = f"{why}; {exc}"
            continue
        if not request.fhir_server or not token:
            failed[key] = f"{why} and no FHIR server access (fhirServer, fhirAuthorization) was given"
        else:
            queries[key] = path

    required = set(service.required_prefetch)
    # Known to fail already: answer at once rather than spend the clinician's time on fetches.
    doomed = {k: r for k, r in failed.items() if k in required}
    if doomed:
        raise _precondition_failed(doomed)

    fetched: list[str] = []
    if queries:
        assert request.fhir_server is not None and token is not None
        origin = parse_origin(request.fhir_server)
        if origin is None or not server_allowed(origin, settings.fhir_allowed_servers):
            warn_server_not_allowed(request.fhir_server)
            shown = str(origin) if origin else "the fhirServer URL"
            raise PreconditionFailed(
                f"{shown} is not an allowed FHIR server for this service, so the data missing "
                f"from prefetch ({', '.join(queries)}) cannot be fetched",
                location="fhirServer",
            )
        owned_client = client is None
        active = client or FhirClient(settings)
        try:
            results = active.fetch_all(request.fhir_server, token, queries)
        finally:
            if owned_client:
                active.close()
        for key, result in results.items():
            if result.ok:
                data[key] = result.resource
                fetched.append(key)
            else:
                failed[key] = f"{missing[key]}; {result.reason}"

    doomed = {k: failed[k] for k in service.prefetch if k in failed and k in required}
    if doomed:
        raise _precondition_failed(doomed)
    return PrefetchResult(
        data=data,
        unavailable={k: failed.get(k) or partial[k] for k in service.prefetch if k in failed or k in partial},
        fetched=tuple(k for k in service.prefetch if k in fetched),
    )
