"""Flask application factory: wires the routes of the HTTP shell around the answer pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from flask import Blueprint, Flask, Response, g, request_started, request_tearing_down

from cds import __version__
from cds.answer.handlers import HANDLERS, Handler
from cds.answer.modes import check_topic_modes
from cds.answer.runtime import knowledge_for
from cds.config import Settings, load_settings
from cds.errors import BadRequest
from cds.governance.recorder import AuditRecorder
from cds.http.admin_pages import admin
from cds.http.docs_pages import docs
from cds.http.error_handlers import register_error_handlers
from cds.http.feedback_checks import check_item_count, check_origin
from cds.http.health import health
from cds.http.hook_route import call_service
from cds.http.openapi import openapi_document
from cds.http.request import check_feedback_timestamps, parse_json, validate_against
from cds.http.request_log import register_request_log, timed
from cds.http.responses import json_response
from cds.http.state import TOPICS_EXTENSION, CdsApp, Clock
from cds.logs import configure_logging
from cds.observe import metrics
from cds.services.definitions import load_services
from cds.store.database import Database, open_database
from cds.store.feedback import FeedbackStore, SqlFeedbackStore, records_from_request
from cds.store.jti_record import JtiRecord
from cds.trust.authenticator import Authenticator

__all__ = ["TOPICS_EXTENSION", "create_app"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _CdsFlask(Flask):
    def make_default_options_response(self) -> Response:
        """CORS preflight and plain OPTIONS: Allow and the CORS headers, no body, no HTML type."""
        response = super().make_default_options_response()
        response.status_code = 204
        del response.headers["Content-Type"]
        return response


def _feedback(state: CdsApp, service_id: str) -> Response:
    state.authenticate()
    service = state.service(service_id)
    data = parse_json(state.read_body(), max_depth=state.settings.max_json_depth)
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    check_item_count(data, state.settings.max_feedback_items)
    validate_against("feedback", data)
    check_feedback_timestamps(data)
    records = records_from_request(service.id, data, state.clock(), g.caller.iss, g.caller.tenant)
    check_origin(state.audit, g.caller, records)  # 403 when a card went to another EHR
    state.feedback_store.add(records)
    for record in records:  # counted once stored, never before
        metrics.count_feedback(service.id, record.outcome)
    return json_response({"received": len(records)})


def _health(state: CdsApp) -> Response:
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "services": sorted(state.services),
            "authMode": state.authenticator.mode,
            "acceptsUnauthenticatedCalls": state.authenticator.mode == "open",
            "knowledgeVersion": state.knowledge_version.as_json(),
        }
    )


def _register_routes(app: Flask, state: CdsApp) -> None:
    openapi_body = orjson.dumps(openapi_document())
    app.add_url_rule("/healthz", "healthz", lambda: _health(state))
    app.add_url_rule("/openapi.json", "openapi", lambda: Response(openapi_body, mimetype="application/json"))

    def discovery() -> Response:
        state.authenticate()
        return Response(state.discovery_body, mimetype="application/json")

    app.add_url_rule("/cds-services", "discovery", discovery, strict_slashes=False)  # "/cds-services/" too
    app.add_url_rule(
        "/cds-services/<service_id>",
        "call_service",
        lambda service_id: call_service(state, service_id),
        methods=["POST"],
    )
    app.add_url_rule(
        "/cds-services/<service_id>/feedback",
        "feedback",
        lambda service_id: _feedback(state, service_id),
        methods=["POST"],
    )
    if state.settings.metrics_enabled and not state.settings.metrics_port:
        exposition = lambda: Response(metrics.exposition(), mimetype=None, content_type=metrics.CONTENT_TYPE)  # noqa: E731
        app.add_url_rule("/metrics", "metrics_text", exposition)


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
    check_topic_modes(settings, knowledge_for(settings))
    database = database or open_database(settings)
    state = CdsApp(
        settings=settings,
        services=load_services(settings.hooks_dir, known_handlers=set(handlers)),
        handlers=handlers,
        database=database,
        feedback_store=feedback_store or SqlFeedbackStore(database),
        # Used token ids live in the shared database: every worker and replica sees them.
        authenticator=Authenticator(settings, replay_guard=JtiRecord(database)),
        clock=clock,
        audit=AuditRecorder(database, settings),
    )
    state.audit.purge_expired(clock())  # retention at start-up, then daily while cards are written

    app = _CdsFlask("cds")
    app.url_map.merge_slashes = False  # "//" would answer an HTML redirect instead of a JSON 404
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["cds"] = state
    register_request_log(app, settings, state.knowledge_version.version)
    if state.audit.shadow.enabled:  # a shadow pilot's thread yields to this app's requests
        request_started.connect(state.audit.shadow.call_started, app, weak=False)
        request_tearing_down.connect(state.audit.shadow.call_ended, app, weak=False)
    register_error_handlers(app, settings.max_body_bytes)
    _register_routes(app, state)
    app.wsgi_app = timed(app.wsgi_app)  # type: ignore[method-assign]
    # composed pages (the preview), documentation, the committee's report, the probes
    for page in (*pages, docs, admin, health):
        app.register_blueprint(page)
    return app
