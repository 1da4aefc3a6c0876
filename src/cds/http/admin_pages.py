"""The committee dashboard at /admin/report: off unless `admin_token` is set, then only for
callers presenting it as a bearer token. Counts only; never patient data."""

from __future__ import annotations

import hmac
from datetime import timedelta

import orjson
from flask import Blueprint, Response, current_app, request

from cds.cards.catalog import load_catalog
from cds.errors import BadRequest, NotFound, Unauthorized
from cds.governance.dashboard import render_dashboard
from cds.governance.report import parse_bound
from cds.governance.reporting import load_report

DEFAULT_WEEKS = 12
_HEADERS = {
    "Cache-Control": "no-store",
    # No script runs on the page; styles are inline; nothing is loaded from elsewhere.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _check_token(expected: str) -> None:
    if not expected:
        raise NotFound(f"no route for {request.path[:200]}")  # as if the page did not exist
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("the report needs the admin bearer token")


admin = Blueprint("admin", __name__)


@admin.get("/admin/report")
def report_page() -> Response:
    state = current_app.extensions["cds"]
    _check_token(state.settings.admin_token)
    now = state.clock()
    try:
        since_text, until_text = request.args.get("since"), request.args.get("until")
        until = parse_bound(until_text, end=True) if until_text else now
        since = parse_bound(since_text) if since_text else until - timedelta(weeks=DEFAULT_WEEKS)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    service = request.args.get("service") or None
    if service is not None and service not in state.services:
        raise NotFound(f"no CDS service with id '{service[:100]}'")
    state.audit.flush()  # this worker's queued cards count at once
    catalog = load_catalog()
    displays = {code: info.display for code, info in catalog.topics.items()}
    report = load_report(state.database, state.settings, since=since, until=until, service=service,
                         displays=displays)  # fmt: skip
    if request.args.get("format") == "json":
        response = Response(orjson.dumps(report.as_json()), mimetype="application/json")
    else:
        reasons = {code: name for info in catalog.topics.values() for code, name in info.override_reasons}
        response = Response(render_dashboard(report, reasons), mimetype="text/html")
    response.headers.update(_HEADERS)
    return response
