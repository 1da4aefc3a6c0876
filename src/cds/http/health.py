"""Probes for orchestrators and load balancers: /livez (the process answers) and /readyz (it
can do its work: the database answers at the current schema and, in jwt mode, every trusted
issuer's key set is loaded). /healthz stays as it was for EHR integrators.

/livez never touches the database: a database outage must not get healthy processes
restarted. /readyz answers 503 (an OperationOutcome naming what is not ready) until it is.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, json
from sqlalchemy.exc import SQLAlchemyError

from cds.errors import ServiceUnavailable
from cds.logs import log_event
from cds.store.database import head_revision

health = Blueprint("health", __name__)

PROBE_PATHS = frozenset({"/livez", "/readyz"})  # asked every few seconds: not logged per request


def _ok(status: str) -> Response:
    return Response(json.dumps({"status": status}), mimetype="application/json")


@health.get("/livez")
def livez() -> Response:
    return _ok("live")


def not_ready(state: object) -> list[str]:
    """What keeps the service from answering calls, in words; empty when it is ready."""
    problems: list[str] = []
    database = state.database  # type: ignore[attr-defined]
    try:
        current, head = database.current_revision(), head_revision()
        if current != head:
            problems.append(f"database schema is at revision {current or 'none'}, this version needs {head}")
    except SQLAlchemyError as exc:
        problems.append("the database does not answer")
        log_event("readiness: database does not answer", logging.WARNING, error_type=type(exc).__name__)
    authenticator = state.authenticator  # type: ignore[attr-defined]
    if authenticator.mode == "jwt":
        missing = authenticator.issuers_without_keys()
        if missing:
            problems.append(f"key set not loaded for issuer {', '.join(repr(i[:100]) for i in missing)}")
    return problems


@health.get("/readyz")
def readyz() -> Response:
    problems = not_ready(current_app.extensions["cds"])
    if problems:
        raise ServiceUnavailable("not ready: " + "; ".join(problems))
    return _ok("ready")
