"""The committee dashboard at /admin/report: off unless `admin_token` is set, then only for
callers presenting it as a bearer token. Counts only; never patient data."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from flask import Blueprint, Response, current_app, request

from cds.answer.runtime import knowledge_for
from cds.errors import BadRequest, NotFound, Unauthorized, outcome_for
from cds.governance.dashboard import render_dashboard
from cds.governance.figures import parse_bound
from cds.governance.report_query import load_report
from cds.http.rate_limit import TokenBuckets, TooManyRequests
from cds.knowledge.version import UNVERSIONED
from cds.store.governance import known_versions

DEFAULT_WEEKS = 12
_PARAMETERS = frozenset({"since", "until", "service", "topic", "version", "format"})
_HEADERS = {
    "Cache-Control": "no-store",
    # No script runs on the page; styles are inline; nothing is loaded from elsewhere.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


# Failed attempts allowed per client address: a burst of FAILURES_BURST, then one every
# FAILURE_REFILL_S seconds (per worker process). Behind a proxy the address is the proxy's.
FAILURES_BURST = 5
FAILURE_REFILL_S = 10.0


def _failures() -> TokenBuckets:
    """This app's record of failed attempts (each app its own, created on first use)."""
    return current_app.extensions.setdefault(
        "cds.admin_failures", TokenBuckets(capacity=FAILURES_BURST, refill_s=FAILURE_REFILL_S)
    )


def _check_token(expected: str) -> None:
    if not expected:
        raise NotFound(f"no route for {request.path[:200]}")  # as if the page did not exist
    client = request.remote_addr or "?"
    failures = _failures()
    wait = failures.wait_s(client)
    if wait > 0:  # too many failed attempts: refused before the token is even compared
        raise TooManyRequests(
            "too many failed attempts with the admin token; retry later", retry_after_s=wait
        )
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        failures.take(client)
        raise Unauthorized("the report needs the admin bearer token")


admin = Blueprint("admin", __name__)


@admin.errorhandler(TooManyRequests)
def _throttled(error: TooManyRequests) -> Response:
    response = Response(orjson.dumps(outcome_for(error)), status=429, mimetype="application/json")
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@dataclass(frozen=True)
class _Query:
    since: datetime
    until: datetime
    service: str | None
    topic: str | None
    as_json: bool
    version: str | None = None


def _one(name: str) -> str | None:
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(
            f"query parameter '{name}' is given {len(values)} times; give it once", location=name
        )
    return values[0] if values else None


def _query(now: datetime, services: Iterable[str], topics: Iterable[str], versions: Iterable[str]) -> _Query:
    """The page's query parameters, checked: any that is wrong is a 400 naming it."""
    unknown = sorted(set(request.args) - _PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown query parameter '{unknown[0][:100]}'; the page takes "
                         f"{', '.join(sorted(_PARAMETERS))}", location=unknown[0][:100])  # fmt: skip
    since_text, until_text = _one("since"), _one("until")
    try:
        until = parse_bound(until_text, end=True) if until_text else now
        since = parse_bound(since_text) if since_text else until - timedelta(weeks=DEFAULT_WEEKS)
    except ValueError as exc:
        raise BadRequest(str(exc)[:300], location="until" if until_text else "since") from None
    except OverflowError:
        raise BadRequest(f"'until' {until_text[:100]!r} leaves no room for the default period; give 'since'",
                         location="until") from None  # fmt: skip
    if since >= until:
        raise BadRequest("'since' must be before 'until'", location="since")
    service = _one("service") or None
    if service is not None and service not in services:
        raise BadRequest(f"unknown service '{service[:100]}'; services: {', '.join(sorted(services))}",
                         location="service")  # fmt: skip
    topic = _one("topic") or None
    if topic is not None and topic not in topics:
        raise BadRequest(
            f"unknown topic '{topic[:100]}'; topics: {', '.join(sorted(topics))}", location="topic"
        )
    version = _one("version") or None
    if version is not None and version not in versions:
        known = ", ".join(sorted(versions))
        raise BadRequest(
            f"unknown knowledge version '{version[:100]}'; versions: {known}", location="version"
        )
    form = _one("format") or "html"
    if form not in ("html", "json"):
        raise BadRequest(f"format '{form[:100]}' is not one of html, json", location="format")
    return _Query(since, until, service, topic, form == "json", version)


@admin.get("/admin/report")
def report_page() -> Response:
    state = current_app.extensions["cds"]
    _check_token(state.settings.admin_token)
    catalog = knowledge_for(state.settings)
    versions = {*known_versions(state.database), UNVERSIONED}
    query = _query(state.clock(), state.services, catalog.topics, versions)
    state.audit.flush()  # this worker's queued cards count at once (a shadow pilot's too)
    displays = {code: info.display for code, info in catalog.topics.items()}
    report = load_report(state.database, state.settings, since=query.since, until=query.until,
                         service=query.service, topic=query.topic, displays=displays,
                         version=query.version)  # fmt: skip
    if query.as_json:
        response = Response(orjson.dumps(report.as_json()), mimetype="application/json")
    else:
        reasons = {code: name for info in catalog.topics.values() for code, name in info.override_reasons}
        # Links to a topic's view keep the period and service exactly as the reader gave them.
        keep = {k: v for k in ("since", "until", "service", "version") if (v := request.args.get(k))}
        response = Response(render_dashboard(report, reasons, keep), mimetype="text/html")
    response.headers.update(_HEADERS)
    return response
