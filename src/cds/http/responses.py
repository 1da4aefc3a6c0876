"""Answers the routes send: JSON bodies and the OperationOutcome of an error."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response, request

from cds.errors import CdsError, outcome_for
from cds.http.drain import drain_body


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


def error_response(error: CdsError) -> Response:
    response = json_response(outcome_for(error), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"  # RFC 6750: name the scheme, nothing more
    if error.status == 413:
        drain_body(request.environ)  # the client may still be sending: so it can read this answer
    if error.status == 503:
        response.headers["Retry-After"] = "1"
    return response
