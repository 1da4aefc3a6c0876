"""Resolve a service's prefetch data from the request and, where missing, the FHIR server.

Rules (docs/prefetch.md):
- a key present with a resource or Bundle is used as is (the request parser has decoded it);
  present with null means the EHR has no such data (not an error); an OperationOutcome in its
  place counts as missing;
- missing keys are fetched from `fhirServer` with the request's bearer token, all at once,
  but only when that server's origin is on settings.fhir_allowed_servers;
- a required key that cannot be had answers 412 naming the keys and reasons; an optional
  key that cannot be had is listed in `PrefetchResult.unavailable` and the call goes on;
- a former key (`myelin.formerPrefetch`: an earlier discovery an EHR may have cached) is used
  when sent and never fetched; sent, it stands in for the current keys it replaced, which
  then count as had (neither fetched nor required). An OperationOutcome in its place stands
  in for nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cds.config import Settings
from cds.errors import PreconditionFailed
from cds.fhir.client import FetchResult, FhirClient, parse_origin, server_allowed, warn_server_not_allowed
from cds.reader import Decoded, KeyProblem, KeyState, completeness, decode, next_link
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


def _is_operation_outcome(value: Decoded) -> bool:
    return value.resource is not None and value.resource.resourceType == "OperationOutcome"


def _precondition_failed(reasons: Mapping[str, str]) -> PreconditionFailed:
    listed = "; ".join(f"{key}: {reason}" for key, reason in reasons.items())
    return PreconditionFailed(f"required prefetch data unavailable ({listed})", location="prefetch")


def _continuable(data: Mapping[str, Decoded], partial: Mapping[str, KeyState]) -> dict[str, dict[str, Any]]:
    """The partial prefetch Bundles that carry a next link the service could follow itself."""
    return {
        key: data[key].as_json()  # the first page, for the client to carry on from
        for key in partial
        if (resource := data[key].resource) is not None and next_link(resource) is not None
    }


def _allowed_origin(request: HookRequest, settings: Settings) -> tuple[bool, str]:
    """Whether the request's fhirServer is on the allow-list, and its origin as shown."""
    origin = parse_origin(request.fhir_server) if request.fhir_server else None
    shown = str(origin) if origin else "the fhirServer URL"
    return origin is not None and server_allowed(origin, settings.fhir_allowed_servers), shown


def _complete(
    key: str, result: FetchResult, data: dict[str, Decoded], partial: dict[str, KeyState], fetched: list[str]
) -> None:
    """A partial prefetch completed from the server replaces it, unless it is still short;
    when the rest cannot be had, the first page stays and says why."""
    if result.ok and isinstance(result.resource, dict):
        data[key] = decode(result.resource)
        fetched.append(key)
        still = completeness(key, data[key].resource)
        if still is None:
            partial.pop(key, None)
        else:
            partial[key] = still
    else:
        was = partial[key]
        detail = f"{was.detail}; the remaining pages could not be fetched ({result.reason})"
        partial[key] = KeyState(key, KeyProblem.PARTIAL, detail, was.oldest)


def resolve_prefetch(
    service: ServiceDefinition,
    request: HookRequest,
    settings: Settings,
    client: FhirClient | None = None,
) -> PrefetchResult:
    """The data for every prefetch key of the service, or 412 when a required key is missing."""
    data: dict[str, Decoded] = {}
    missing: dict[str, str] = {}  # key -> why the request did not carry it
    failed_prefetch: set[str] = set()  # keys whose prefetch the EHR tried and failed
    sent = {key for key in service.former_prefetch if key in request.prefetch}
    failed_former = {k for k in sent if _is_operation_outcome(request.prefetch[k])}
    stand_ins = service.stood_in_for(sent - failed_former)
    failed_stand_ins = service.stood_in_for(failed_former)
    for key in service.prefetch:
        if key in request.prefetch and not _is_operation_outcome(request.prefetch[key]):
            data[key] = request.prefetch[key]
        elif key in stand_ins:
            continue  # the former key sent in its place carries its data
        elif key in request.prefetch:
            missing[key] = "the EHR's prefetch failed (OperationOutcome)"
            failed_prefetch.add(key)
        elif key in failed_stand_ins:
            former = failed_stand_ins[key]
            missing[key] = f"not prefetched, and the EHR's prefetch of {former} failed (OperationOutcome)"
        else:
            missing[key] = "not prefetched"
    for key in sorted(sent - failed_former):  # used as sent, never fetched
        data[key] = request.prefetch[key]
    # Partial lists are used for what they hold, but are never taken as the whole list.
    partial = {key: state for key in data if (state := completeness(key, data[key].resource)) is not None}
    token = request.fhir_authorization.access_token if request.fhir_authorization else None
    # A first page with a next link is completed from the FHIR server when the request gives
    # access to one (fhirServer and a token) on the allow-list.
    pages = _continuable(data, partial) if request.fhir_server and token else {}
    if not missing and not pages:
        return PrefetchResult(data=data, key_states=partial)

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
        allowed, shown = _allowed_origin(request, settings)
        if not allowed:
            warn_server_not_allowed(request.fhir_server)  # once per call, whatever needed it
            if queries:
                raise PreconditionFailed(
                    f"{shown} is not an allowed FHIR server for this service, so the data missing "
                    f"from prefetch ({', '.join(queries)}) cannot be fetched",
                    location="fhirServer",
                )
            pages = {}  # the partial lists stay marked incomplete
    if queries or pages:
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
                data[key] = decode(result.resource)
                fetched.append(key)
                # A server may answer one page with a `total` that says more and no next link.
                if (short := completeness(key, data[key].resource)) is not None:
                    partial[key] = short
            else:
                failed[key] = f"{missing[key]}; {result.reason}"

    doomed = {k: failed[k] for k in service.prefetch if k in failed and k in required}
    if doomed:
        raise _precondition_failed(doomed)
    states = {
        k: KeyState(k, KeyProblem.FAILED if k in failed_prefetch else KeyProblem.NOT_SENT, failed[k])
        if k in failed
        else partial[k]
        for k in (*service.prefetch, *service.former_prefetch)
        if k in failed or k in partial
    }
    fetched_keys = tuple(k for k in (*service.prefetch, *service.former_prefetch) if k in fetched)
    return PrefetchResult(data=data, key_states=states, fetched=fetched_keys)
