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
from cds.engine.facts import INCOMPLETE_PREFIX
from cds.errors import PreconditionFailed
from cds.fhir.client import FetchResult, FhirClient, parse_origin, server_allowed, warn_server_not_allowed
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


def incomplete_reason(value: Any) -> str | None:
    """Why a prefetched Bundle is only part of the answer, or None when it says it is whole.

    A searchset that carries a `next` link, or a `total` larger than the matches it holds, is
    one page of a longer list: judged like a fetch that could not get every page."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return None
    total = value.get("total")
    has_next = _has_next(value)
    counted = isinstance(total, int) and not isinstance(total, bool)
    if not counted and not has_next:
        return None  # nothing says it is partial: the entries need not be counted
    entries = value.get("entry") if isinstance(value.get("entry"), list) else []
    # `total` counts matches only; resources brought in by _include are not part of it.
    included = 0
    for entry in entries:  # a plain loop: this runs over every entry of every call's Bundles
        search = entry.get("search") if isinstance(entry, dict) else None
        if isinstance(search, dict) and search.get("mode") == "include":
            included += 1
    matches = len(entries) - included
    if counted and total > matches:
        return f"{INCOMPLETE_PREFIX}the EHR sent {matches} of {total} entries"
    if has_next:
        page = f"the EHR sent one page ({matches} entries) and did not follow the next link"
        return INCOMPLETE_PREFIX + page
    return None


def _has_next(bundle: dict[str, Any]) -> bool:
    links = bundle.get("link")
    return isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    )


def _continuable(
    data: Mapping[str, Any],
    partial: Mapping[str, str],
    request: HookRequest,
    settings: Settings,
    token: str | None,
    quiet: bool,
) -> dict[str, dict[str, Any]]:
    """The partial prefetch Bundles that carry a next link the service may follow itself: a
    fhirServer and token in the request, the server on the allow-list. Otherwise none, and the
    lists stay marked incomplete (`quiet`: the missing keys' own check warns and answers)."""
    pages = {key: data[key] for key in partial if _has_next(data[key])}
    if not pages or not request.fhir_server or not token:
        return {}
    origin = parse_origin(request.fhir_server)
    if origin is None or not server_allowed(origin, settings.fhir_allowed_servers):
        if not quiet:
            warn_server_not_allowed(request.fhir_server)
        return {}
    return pages


def _complete(
    key: str, result: FetchResult, data: dict[str, Any], partial: dict[str, str], fetched: list[str]
) -> None:
    """A partial prefetch completed from the server replaces it, unless it is still short;
    when the rest cannot be had, the first page stays and says why."""
    if result.ok and isinstance(result.resource, dict):
        data[key] = result.resource
        fetched.append(key)
        still = incomplete_reason(result.resource)
        if still is None:
            partial.pop(key, None)
        else:
            partial[key] = still
    else:
        partial[key] = f"{partial[key]}; the remaining pages could not be fetched ({result.reason})"


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
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    # A first page with a next link is completed from the FHIR server when the request allows it.
    pages = _continuable(data, partial, request, settings, token, quiet=bool(missing))
    if not missing and not pages:
        return PrefetchResult(data=data, unavailable=partial)

    failed: dict[str, str] = {}
    queries: dict[str, str] = {}
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
    if queries or pages:
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
            results = active.fetch_all(request.fhir_server, token, queries, continue_from=pages)
        finally:
            if owned_client:
                active.close()
        for key, result in results.items():
            if key in pages:
                _complete(key, result, data, partial, fetched)
            elif result.ok:
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
