"""Errors the HTTP layer turns into status codes with a FHIR OperationOutcome body."""

from __future__ import annotations

from typing import Any


class CdsError(Exception):
    """An error the client can act on: an HTTP status, an issue code and a plain message."""

    status = 400
    issue_code = "invalid"

    def __init__(self, message: str, *, location: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location  # the element at fault, or each of several that disagree


class BadRequest(CdsError):
    status = 400
    issue_code = "invalid"


class Unauthorized(CdsError):
    status = 401
    issue_code = "login"


class Forbidden(CdsError):
    """403: the caller is who it says, but may not do this (feedback on another EHR's card)."""

    status = 403
    issue_code = "forbidden"


class NotFound(CdsError):
    status = 404
    issue_code = "not-found"


class PreconditionFailed(CdsError):
    """412: the data the service needs could not be had (CDS Hooks prefetch rule)."""

    status = 412
    issue_code = "incomplete"


class RequestTimeout(CdsError):
    status = 408
    issue_code = "timeout"


class PayloadTooLarge(CdsError):
    status = 413
    issue_code = "too-costly"


class ServiceUnavailable(CdsError):
    """503: something the service depends on (its database) cannot be reached; retry later."""

    status = 503
    issue_code = "transient"


class UnsupportedMediaType(CdsError):
    status = 415
    issue_code = "not-supported"


def operation_outcome(
    message: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    location: str | tuple[str, ...] | None = None,
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if location:
        issue["expression"] = [location] if isinstance(location, str) else list(location)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_for(error: CdsError) -> dict[str, Any]:
    return operation_outcome(error.message, code=error.issue_code, location=error.location)
