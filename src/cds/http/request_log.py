"""What every answer carries and leaves behind: the CORS headers, its metrics, its log line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request

from cds.config import Settings
from cds.http.health import PROBE_PATHS
from cds.logs import log_enabled, log_event, set_call_id
from cds.observe import metrics

STARTED = "cds.started"
# Flask endpoint name -> the `endpoint` label; anything else (pages, 404s) is "other".
_ENDPOINT_LABELS = {
    "call_service": "call",
    "feedback": "feedback",
    "discovery": "discovery",
    "healthz": "health",
    "metrics_text": "metrics",
    "openapi": "openapi",
}
_TIMED = frozenset({"call", "feedback"})
_QUIET_PATHS = frozenset({"/healthz", *PROBE_PATHS})  # probes: no log line each


def timed(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Notes when a request reached the application, for its log line: one dictionary entry
    in the WSGI environment instead of a before-request hook and a `g` attribute."""

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[STARTED] = time.perf_counter()
        return wsgi_app(environ, start_response)

    return wrapper


def _count(response: Response, elapsed: float) -> None:
    endpoint = _ENDPOINT_LABELS.get(request.endpoint or "", "other")
    if endpoint in _TIMED:
        service = g.get("service_id") or metrics.UNKNOWN  # only ids of loaded services
        metrics.count_request(endpoint, service, response.status_code, elapsed)
    else:
        metrics.count_request(endpoint, metrics.NONE, response.status_code, None)


def register_request_log(app: Flask, settings: Settings, knowledge_version: str) -> None:
    """CORS headers on every answer, the metrics of each, and its log line (a call's names the
    knowledge version that answered it)."""
    # The same headers on every answer: built once here, not set one by one per request.
    cors = [
        ("Access-Control-Allow-Origin", settings.cors_allow_origin),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
        ("Access-Control-Max-Age", "86400"),
        ("X-Content-Type-Options", "nosniff"),  # a browser never reads an answer as another type
    ]
    if settings.cors_allow_origin != "*":
        cors.append(("Vary", "Origin"))

    @app.teardown_request
    def _forget_call_id(_error: BaseException | None) -> None:
        set_call_id(None)  # worker threads are reused: no id is left over for the next call

    @app.after_request
    def _cors_and_log(response: Response) -> Response:
        response.headers.extend(cors)
        started = request.environ.get(STARTED)
        elapsed = time.perf_counter() - started if started else 0.0
        _count(response, elapsed)
        if request.method != "OPTIONS" and request.path not in _QUIET_PATHS and log_enabled():
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
                knowledgeVersion=knowledge_version if g.get("hook") else None,
            )
        return response
