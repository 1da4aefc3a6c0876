"""Every error a route can meet, answered as an OperationOutcome: never a stack trace, never
the server's own HTML page."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, g, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from cds.errors import CdsError, PayloadTooLarge, ServiceUnavailable, operation_outcome
from cds.http.responses import error_response, json_response
from cds.logs import log_event


def _where(error: BaseException) -> str:
    """Where an unexpected exception was raised: "cds/engine/rules_b12.py:212 in band".
    File, line and function only: never the values (they may hold patient data)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    ours = [f for f in frames if "/cds/" in f.filename.replace("\\", "/")]
    last = (ours or frames)[-1]  # the service's own line that led there, not the library's
    path = last.filename.replace("\\", "/")
    shown = path[path.rfind("/cds/") + 1 :] if "/cds/" in path else path.rsplit("/", 2)[-1]
    return f"{shown}:{last.lineno} in {last.name}"


def _message(error: BaseException) -> str:
    """The exception's own message, one line and bounded; an engine error names no patient data
    (its messages are written from codes and rule names), and a long one is cut."""
    return " ".join(str(error).split())[:300]


def register_error_handlers(app: Flask, max_body_bytes: int) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(error: CdsError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        code = error.code or 500
        if code == 413:
            too_large = PayloadTooLarge(f"request body exceeds the limit of {max_body_bytes} bytes")
            return error_response(too_large)
        issue = {404: "not-found", 405: "not-supported"}.get(code, "processing")
        message = {
            404: f"no route for {request.path[:200]}",
            405: f"method {request.method} is not allowed on {request.path[:200]}",
        }.get(code, error.description or error.name)
        response = json_response(operation_outcome(message, code=issue), code)
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
        return error_response(ServiceUnavailable("the service's database is unavailable; retry"))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log_event(
            "unhandled error",
            logging.ERROR,
            error_type=type(error).__name__,
            error=_message(error),
            where=_where(error),
            service=g.get("service_id"),
            hookInstance=g.get("hook_instance"),
        )
        message = "internal error while processing the request"
        outcome = operation_outcome(message, code="exception", severity="fatal")
        return json_response(outcome, 500)
