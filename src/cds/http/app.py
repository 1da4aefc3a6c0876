"""Flask application factory: the HTTP shell around the pure guideline engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, g, json, request, request_started, request_tearing_down
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.sansio.utils import get_current_url

from cds import __version__
from cds.cards.catalog import load_catalog
from cds.cards.modes import check_topic_modes, topic_modes
from cds.cards.registry import HANDLER_TOPICS, HANDLERS
from cds.cards.version import VERSION_EXTENSION
from cds.change.version import knowledge_version
from cds.config import Settings, load_settings
from cds.errors import (
    BadRequest,
    CdsError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServiceUnavailable,
    UnsupportedMediaType,
    operation_outcome,
    outcome_for,
)
from cds.fhir.client import FhirClient
from cds.fhir.prefetch import resolve_prefetch
from cds.governance.recorder import AuditRecorder
from cds.http.admin_pages import admin
from cds.http.docs_pages import docs
from cds.http.drain import drain_body
from cds.http.openapi import openapi_document
from cds.http.read_deadline import DEADLINES
from cds.http.request import (
    check_feedback_timestamps,
    parse_hook_request,
    parse_json,
    validate_against,
)
from cds.limits import check_resources_per_key
from cds.logs import configure_logging, log_enabled, log_event, set_call_id
from cds.observe import metrics
from cds.services.call import Handler, HookCall
from cds.services.definitions import ServiceDefinition, load_services
from cds.store.database import Database, open_database
from cds.store.feedback import FeedbackStore, SqlFeedbackStore, records_from_request
from cds.store.replay import ReplayRecord
from cds.trust.authenticator import Authenticator

Clock = Callable[[], datetime]
# Discovery extension naming each topic a service can return and whether it is live.
TOPICS_EXTENSION = "io.github.myelin-cds.topic-modes"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


@lru_cache(maxsize=256)
def _host_url(scheme: str, host: str) -> str:
    """`request.host_url`, worked out once per host instead of on every call (its IRI
    conversion is the costly part); bounded, so odd Host headers cannot grow it."""
    return get_current_url(scheme, host)


def _error_response(error: CdsError) -> Response:
    response = _json_response(outcome_for(error), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"  # RFC 6750: name the scheme, nothing more
    if error.status == 413:
        drain_body(request.environ)  # the client may still be sending: so it can read this answer
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _is_json_content_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class _CdsFlask(Flask):
    def make_default_options_response(self) -> Response:
        """CORS preflight and plain OPTIONS: Allow and the CORS headers, no body, no HTML type."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


class CdsApp:
    """Holds what the routes share: settings, services, handlers, stores, clock."""

    def __init__(
        self,
        settings: Settings,
        services: dict[str, ServiceDefinition],
        handlers: dict[str, Handler],
        database: Database,
        feedback_store: FeedbackStore,
        authenticator: Authenticator,
        clock: Clock,
        audit: AuditRecorder,
    ) -> None:
        self.settings = settings
        self.database = database
        self.audit = audit
        self.services = services
        self.handlers = handlers
        self.feedback_store = feedback_store
        self.authenticator = authenticator
        self.clock = clock
        self.fhir_client = FhirClient(settings)  # pooled connections shared by all calls
        self.knowledge_version = knowledge_version(settings)  # of every card, call and log line
        self.discovery_body = json.dumps(
            {"services": [self._discovery_entry(s) for s in services.values()]},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def _discovery_entry(self, service: ServiceDefinition) -> dict[str, Any]:
        entry = service.discovery()
        topics = HANDLER_TOPICS.get(service.handler, ())
        if topics:
            # CDS Hooks lets any object carry `extension`; EHRs ignore keys they do not know.
            modes = topic_modes(self.settings)
            entry["extension"] = {TOPICS_EXTENSION: {code: modes.mode(code) for code in topics}}
        entry.setdefault("extension", {})[VERSION_EXTENSION] = self.knowledge_version.as_json()
        return entry

    # -- helpers used by the routes
    def audience(self) -> str:
        """The URL the client called, as the JWT `aud` must name it."""
        base = self.settings.public_base_url
        if base:
            return base.rstrip("/") + request.path
        return request.base_url

    def base_url(self) -> str:
        return (self.settings.public_base_url or _host_url(request.scheme, request.host)).rstrip("/")

    def authenticate(self) -> None:
        header = request.headers.get("Authorization")
        # Open mode answers a call without a token before any audience check, so the URL
        # the audience is made from is not worked out for it.
        audience = "" if not header and self.authenticator.mode == "open" else self.audience()
        g.caller = self.authenticator.verify(header, audience)

    def service(self, service_id: str) -> ServiceDefinition:
        service = self.services.get(service_id)
        if service is None:
            raise NotFound(f"no CDS service with id '{service_id[:100]}'")
        g.service_id = service.id
        return service

    def read_json_body(self) -> Any:
        if not _is_json_content_type(request.mimetype):
            shown = request.mimetype or "none"
            raise UnsupportedMediaType(
                f"content type {shown!r} is not supported; send application/json"
            )
        charset = request.mimetype_params.get("charset", "utf-8").strip().lower()
        if charset not in {"utf-8", "utf8"}:  # RFC 8259: JSON between systems is UTF-8
            raise UnsupportedMediaType(
                f"charset {charset[:40]!r} is not supported; send the JSON body as UTF-8"
            )
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        return parse_json(_read_bounded(limit), max_depth=self.settings.max_json_depth)


def _read_bounded(limit: int) -> bytes:
    """Read the body (chunked ones too, which arrive piecewise) but never more than limit + 1."""
    parts: list[bytes] = []
    size = 0
    connection = request.environ.get("gunicorn.socket")
    while size <= limit:
        try:
            part = request.stream.read(limit + 1 - size)
        except ClientDisconnected as exc:  # Werkzeug's name for any failed read of the body
            late = DEADLINES.finish(connection)
            if late or isinstance(exc.__context__, BlockingIOError | TimeoutError):  # receive timeout
                raise RequestTimeout("the request body stopped arriving before it was complete") from None
            raise BadRequest("the connection closed before the whole request body arrived") from None
        if not part:
            break
        parts.append(part)
        size += len(part)
    if DEADLINES.finish(connection):  # the work on the call itself is not timed
        raise RequestTimeout("the request did not arrive whole within client_request_deadline_s")
    expected = request.content_length
    if expected is not None and size < expected:  # the server saw the connection end early
        raise BadRequest("the connection closed before the whole request body arrived")
    if size > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    return b"".join(parts)


_STARTED = "cds.started"


def _timed(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Notes when a request reached the application, for its log line: one dictionary entry
    in the WSGI environment instead of a before-request hook and a `g` attribute."""

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[_STARTED] = time.perf_counter()
        return wsgi_app(environ, start_response)

    return timed


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    feedback_store: FeedbackStore | None = None,
    handlers: dict[str, Handler] | None = None,
    clock: Clock = _utcnow,
    pages: Sequence[Blueprint] = (),
) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    handlers = dict(HANDLERS if handlers is None else handlers)
    check_topic_modes(settings)
    services = load_services(settings.hooks_dir, known_handlers=set(handlers))
    database = database or open_database(settings)
    state = CdsApp(
        settings=settings,
        services=services,
        handlers=handlers,
        database=database,
        feedback_store=feedback_store or SqlFeedbackStore(database),
        # Used token ids live in the shared database: every worker and replica sees them.
        authenticator=Authenticator(settings, replay_guard=ReplayRecord(database)),
        clock=clock,
        audit=AuditRecorder(database, settings),
    )
    state.audit.purge_expired(clock())  # retention at start-up, then daily while cards are written

    app = _CdsFlask("cds")
    app.url_map.merge_slashes = False  # "//" would answer an HTML redirect instead of a JSON 404
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cds"] = state
    if state.audit.shadow.enabled:  # a shadow pilot's thread yields to this app's requests
        request_started.connect(state.audit.shadow.call_started, app, weak=False)
        request_tearing_down.connect(state.audit.shadow.call_ended, app, weak=False)

    known_topics = frozenset(load_catalog().topics)
    # Flask endpoint name -> the `endpoint` label; anything else (pages, 404s) is "other".
    endpoint_labels = {
        "call_service": "call",
        "feedback": "feedback",
        "discovery": "discovery",
        "healthz": "health",
        "metrics_text": "metrics",
        "openapi": "openapi",
    }
    timed_endpoints = {"call", "feedback"}

    @app.teardown_request
    def _forget_call_id(_error: BaseException | None) -> None:
        set_call_id(None)  # worker threads are reused: no id is left over for the next call

    def _count(response: Response, elapsed: float) -> None:
        endpoint = endpoint_labels.get(request.endpoint or "", "other")
        if endpoint in timed_endpoints:
            service = g.get("service_id") or metrics.UNKNOWN  # only ids of loaded services
            metrics.count_request(endpoint, service, response.status_code, elapsed)
        else:
            metrics.count_request(endpoint, metrics.NONE, response.status_code, None)

    # The same headers on every answer: built once here, not set one by one per request.
    cors = [
        ("Access-Control-Allow-Origin", settings.cors_allow_origin),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
        ("Access-Control-Max-Age", "86400"),
    ]
    if settings.cors_allow_origin != "*":
        cors.append(("Vary", "Origin"))

    @app.after_request
    def _cors_and_log(response: Response) -> Response:
        response.headers.extend(cors)
        started = request.environ.get(_STARTED)
        elapsed = time.perf_counter() - started if started else 0.0
        _count(response, elapsed)
        if request.method != "OPTIONS" and request.path != "/healthz" and log_enabled():
            log_event(
                "request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round(elapsed * 1000, 2),
                service=g.get("service_id"),
                hookInstance=g.get("hook_instance"),
                hook=g.get("hook"),
                cards=g.get("card_count"),
                knowledgeVersion=state.knowledge_version.version if g.get("hook") else None,
            )
        return response

    @app.errorhandler(CdsError)
    def _cds_error(error: CdsError) -> Response:
        return _error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = error.code or 500
        if code == 413:
            return _error_response(
                PayloadTooLarge(f"request body exceeds the limit of {settings.max_body_bytes} bytes")
            )
        issue = {404: "not-found", 405: "not-supported"}.get(code, "processing")
        message = {
            404: f"no route for {request.path[:200]}",
            405: f"method {request.method} is not allowed on {request.path[:200]}",
        }.get(code, error.description or error.name)
        response = _json_response(operation_outcome(message, code=issue), code)
        if code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))  # RFC 9110: required
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # Nothing was acknowledged and no token accepted without its record: the client retries.
        log_event(
            "database unavailable",
            logging.ERROR,
            error=str(error.orig or error).strip().splitlines()[0][:300],
            service=g.get("service_id"),
            hookInstance=g.get("hook_instance"),
        )
        return _error_response(ServiceUnavailable("the service's database is unavailable; retry"))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log_event(
            "unhandled error",
            logging.ERROR,
            error_type=type(error).__name__,
            service=g.get("service_id"),
            hookInstance=g.get("hook_instance"),
        )
        return _json_response(
            operation_outcome(
                "internal error while processing the request", code="exception", severity="fatal"
            ),
            500,
        )

    @app.get("/healthz")
    def healthz() -> Response:
        return _json_response(
            {
                "status": "ok",
                "version": __version__,
                "services": sorted(state.services),
                "authMode": state.authenticator.mode,
                "acceptsUnauthenticatedCalls": state.authenticator.mode == "open",
                "knowledgeVersion": state.knowledge_version.as_json(),
            }
        )

    openapi_body = orjson.dumps(openapi_document())

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(openapi_body, mimetype="application/json")

    @app.get("/cds-services", strict_slashes=False)  # "/cds-services/" too
    def discovery() -> Response:
        state.authenticate()
        return Response(state.discovery_body, mimetype="application/json")

    @app.post("/cds-services/<service_id>")
    def call_service(service_id: str) -> Response:
        state.authenticate()
        service = state.service(service_id)
        data = state.read_json_body()
        if isinstance(data, dict):
            # Known before validation so even a rejected call's log line can be traced.
            instance = data.get("hookInstance")
            g.hook_instance = instance[:64] if isinstance(instance, str) else None
            set_call_id(g.hook_instance)
            hook = data.get("hook")
            if isinstance(hook, str) and hook != service.hook:  # before the context it decides on
                raise BadRequest(
                    f"service '{service.id}' answers hook '{service.hook}', not '{hook[:100]}'",
                    location="hook",
                )
        hook_request = parse_hook_request(data)
        g.hook = hook_request.hook
        check_resources_per_key(hook_request.prefetch, state.settings.max_resources_per_key)
        prefetch = resolve_prefetch(service, hook_request, state.settings, state.fhir_client)
        call = HookCall(
            service=service,
            request=hook_request,
            prefetch=prefetch,
            now=state.clock(),
            settings=state.settings,
            base_url=state.base_url(),
        )
        result = state.handlers[service.handler](call)
        cards = result.get("cards", ())
        g.card_count = len(cards)
        for card in cards:
            topic = ((card.get("source") or {}).get("topic") or {}).get("code")
            metrics.count_card(
                service.id,
                metrics.bounded(topic, known_topics),
                metrics.bounded(card.get("indicator"), metrics.INDICATORS),
            )
        state.audit.record_call(
            service=service.id,
            hook_instance=hook_request.hook_instance,
            patient_id=hook_request.patient_id,
            answered_at=call.now,
            cards=cards,
            silent_cards=call.silent_cards,
        )
        state.audit.shadow.after_call(call, result, state.handlers[service.handler])  # if a pilot runs
        return _json_response(result)

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> Response:
        state.authenticate()
        service = state.service(service_id)
        data = state.read_json_body()
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        validate_against("feedback", data)
        check_feedback_timestamps(data)
        received_at = state.clock()
        records = records_from_request(service.id, data, received_at)
        state.feedback_store.add(records)
        for record in records:  # counted once stored, never before
            metrics.count_feedback(service.id, record.outcome)
        return _json_response({"received": len(records)})

    if settings.metrics_enabled and not settings.metrics_port:

        @app.get("/metrics")
        def metrics_text() -> Response:
            return Response(metrics.exposition(), mimetype=None, content_type=metrics.CONTENT_TYPE)

    app.wsgi_app = _timed(app.wsgi_app)  # type: ignore[method-assign]

    for page in pages:  # optional pages composed in by the server (the card preview)
        app.register_blueprint(page)

    app.register_blueprint(docs)  # documentation pages that card links point to
    app.register_blueprint(admin)  # the committee's report; 404 unless admin_token is set

    return app
