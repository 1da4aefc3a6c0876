"""Flask application factory: the HTTP shell around the pure guideline engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, g, json, request
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.sansio.utils import get_current_url

from cds import __version__
from cds.cards.registry import HANDLERS
from cds.config import Settings, load_settings
from cds.errors import (
    BadRequest,
    CdsError,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    operation_outcome,
    outcome_for,
)
from cds.fhir.client import FhirClient
from cds.fhir.prefetch import resolve_prefetch
from cds.http.docs_pages import docs
from cds.http.read_deadline import DEADLINES
from cds.http.request import parse_hook_request, parse_json, validate_against
from cds.limits import check_resources_per_key
from cds.logs import configure_logging, log_event
from cds.services.call import Handler, HookCall
from cds.services.definitions import ServiceDefinition, load_services
from cds.store.feedback import FeedbackStore, SqliteFeedbackStore, records_from_request
from cds.trust.authenticator import Authenticator

Clock = Callable[[], datetime]


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
    return response


def _is_json_content_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class CdsApp:
    """Holds what the routes share: settings, services, handlers, stores, clock."""

    def __init__(
        self,
        settings: Settings,
        services: dict[str, ServiceDefinition],
        handlers: dict[str, Handler],
        feedback_store: FeedbackStore,
        authenticator: Authenticator,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.services = services
        self.handlers = handlers
        self.feedback_store = feedback_store
        self.authenticator = authenticator
        self.clock = clock
        self.fhir_client = FhirClient(settings)  # pooled connections shared by all calls
        self.discovery_body = json.dumps(
            {"services": [s.discovery() for s in services.values()]},
            ensure_ascii=False,
            separators=(",", ":"),
        )

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
    feedback_store: FeedbackStore | None = None,
    handlers: dict[str, Handler] | None = None,
    clock: Clock = _utcnow,
    pages: Sequence[Blueprint] = (),
) -> Flask:
    settings = settings or load_settings()
    configure_logging(settings.log_level)
    handlers = dict(HANDLERS if handlers is None else handlers)
    services = load_services(settings.hooks_dir, known_handlers=set(handlers))
    state = CdsApp(
        settings=settings,
        services=services,
        handlers=handlers,
        feedback_store=feedback_store or SqliteFeedbackStore(settings.feedback_db),
        authenticator=Authenticator(settings),
        clock=clock,
    )

    app = Flask("cds")
    app.url_map.merge_slashes = False  # "//" would answer an HTML redirect instead of a JSON 404
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cds"] = state

    # The same headers on every answer: built once here, not set one by one per request.
    cors = [
        ("Access-Control-Allow-Origin", settings.cors_allow_origin),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
        ("Access-Control-Max-Age", "86400"),
    ]
    if settings.cors_allow_origin != "*":
        cors.append(("Vary", "Origin"))
    logger = logging.getLogger("cds")

    @app.after_request
    def _cors_and_log(response: Response) -> Response:
        response.headers.extend(cors)
        if logger.isEnabledFor(logging.INFO) and request.method != "OPTIONS" and request.path != "/healthz":
            started = request.environ.get(_STARTED)
            log_event(
                "request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2) if started else None,
                service=g.get("service_id"),
                hookInstance=g.get("hook_instance"),
                hook=g.get("hook"),
                cards=g.get("card_count"),
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
        return _json_response(operation_outcome(message, code=issue), code)

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
            }
        )

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
        hook_request = parse_hook_request(data)
        g.hook = hook_request.hook
        check_resources_per_key(hook_request.prefetch, state.settings.max_resources_per_key)
        if hook_request.hook != service.hook:
            raise BadRequest(
                f"service '{service.id}' answers hook '{service.hook}', "
                f"not '{hook_request.hook[:100]}'",
                location="hook",
            )
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
        g.card_count = len(result.get("cards", ()))
        return _json_response(result)

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> Response:
        state.authenticate()
        service = state.service(service_id)
        data = state.read_json_body()
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        validate_against("feedback", data)
        received_at = state.clock().isoformat()
        records = records_from_request(service.id, data, received_at)
        state.feedback_store.add(records)
        return _json_response({"received": len(records)})

    app.wsgi_app = _timed(app.wsgi_app)  # type: ignore[method-assign]

    for page in pages:  # optional pages composed in by the server (the card preview)
        app.register_blueprint(page)

    app.register_blueprint(docs)  # documentation pages that card links point to

    return app
