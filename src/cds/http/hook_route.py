"""The hook call, as a chain of named steps:

    authenticate -> service -> read_hook_request -> resolve_prefetch -> answer -> record -> respond

Each step is one function; the route only strings them together.
"""

from __future__ import annotations

from flask import Response, g

from cds.errors import BadRequest
from cds.fhir.prefetch import resolve_prefetch
from cds.http.request import Envelope, decode_envelope, hook_request
from cds.http.state import CdsApp
from cds.limits import check_resources_per_key
from cds.logs import set_call_id
from cds.observe import metrics
from cds.services.call import HookCall
from cds.services.definitions import ServiceDefinition
from cds.services.request import HookRequest
from cds.services.response import Answer

JSON = "application/json"


def _note_call(data: object, service: ServiceDefinition) -> None:
    """Known before validation so even a rejected call's log line can be traced; a wrong hook
    is named as such, before the context it decides on is checked."""
    instance = data.hookInstance if isinstance(data, Envelope) else (data or {}).get("hookInstance")
    hook = data.hook if isinstance(data, Envelope) else (data or {}).get("hook")
    g.hook_instance = instance[:64] if isinstance(instance, str) else None
    set_call_id(g.hook_instance)
    if isinstance(hook, str) and hook != service.hook:
        message = f"service '{service.id}' answers hook '{service.hook}', not '{hook[:100]}'"
        raise BadRequest(message, location="hook")


def read_hook_request(state: CdsApp, service: ServiceDefinition) -> HookRequest:
    """The body, decoded once and validated; every prefetch value decoded by the reader."""
    data = decode_envelope(state.read_body(), max_depth=state.settings.max_json_depth)
    if isinstance(data, Envelope | dict):
        _note_call(data, service)
    request = hook_request(data)
    g.hook = request.hook
    counts = {key: value.resource_count for key, value in request.prefetch.items()}
    check_resources_per_key(counts, state.settings.max_resources_per_key)
    return request


def record(state: CdsApp, call: HookCall, answer: Answer) -> None:
    """Metrics for each card, and the call in the audit (off the clinician's path)."""
    g.card_count = len(answer.cards)
    service = call.service.id
    for card in answer.cards:
        topic = metrics.bounded(card.topic, state.known_topics)
        metrics.count_card(service, topic, metrics.bounded(card.indicator, metrics.INDICATORS))
    state.audit.record_call(
        service=service,
        hook_instance=call.request.hook_instance,
        patient_id=call.request.patient_id,
        answered_at=call.now,
        cards=answer.cards,
        silent_cards=answer.silent,
        caller=g.caller,  # feedback on these cards is taken from this issuer and tenant only
    )


def call_service(state: CdsApp, service_id: str) -> Response:
    state.authenticate()
    service = state.service(service_id)
    request = read_hook_request(state, service)
    prefetch = resolve_prefetch(service, request, state.settings, state.fhir_client)
    call = HookCall(service, request, prefetch, state.clock(), state.settings, state.base_url())
    handler = state.handlers[service.handler]
    answer = handler(call)
    record(state, call, answer)
    state.audit.shadow.after_call(call, answer, handler)  # when a shadow pilot runs: queued, no more
    return Response(answer.body(), content_type=JSON)
