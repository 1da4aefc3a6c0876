"""Helpers for prefetch and FHIR fallback tests: an app whose handler exposes what it was given."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from cds.config import load_settings
from cds.http.app import create_app
from cds.logs import JsonFormatter
from cds.services.call import HookCall
from cds.services.response import Answer

HOOK_INSTANCE = "5b0c7f1e-2a43-4c55-9d7e-0f8a51c2b6d1"
FHIR = "http://127.0.0.1:8123/fhir"
FHIR_ORIGIN = "http://127.0.0.1:8123"  # on the allow-list of the apps these tests make
TOKEN = "tok-3f9c2e7a1b8d4c6e-secret"
EMPTY_BUNDLE: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-05-01"}

FULL_PREFETCH: dict[str, Any] = {
    "patient": PATIENT,
    "b12Observations": EMPTY_BUNDLE,
    "chemistryObservations": EMPTY_BUNDLE,
    "medicationStatements": EMPTY_BUNDLE,
    "medicationRequests": EMPTY_BUNDLE,
    "conditions": EMPTY_BUNDLE,
}


def hook_request(
    prefetch: dict[str, Any] | None = None,
    *,
    server: str | None = FHIR,
    token: str | None = TOKEN,
    omit: tuple[str, ...] = (),
    user: str = "Practitioner/dr1",
) -> dict[str, Any]:
    """A patient-view call: full prefetch minus `omit`, with fhirServer and token unless None."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": user, "patientId": "p1"},
    }
    chosen = copy.deepcopy(FULL_PREFETCH if prefetch is None else prefetch)
    body["prefetch"] = {k: v for k, v in chosen.items() if k not in omit}
    if server is not None:
        body["fhirServer"] = server
    if token is not None:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
    return body


def bundle(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url:
        result["link"] = [{"relation": "next", "url": next_url}]
    return result


def observation(obs_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "valueQuantity": {"value": 320, "unit": "pg/mL"},
    }


class Captured:
    """What the service handler received (the resolved PrefetchResult)."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def handler(self, call: HookCall) -> Answer:
        self.calls.append(call)
        return Answer()

    @property
    def prefetch(self) -> Any:
        assert self.calls, "the handler was not called"
        return self.calls[-1].prefetch


def make_app(captured: Captured, **settings: Any) -> Flask:
    settings.setdefault("fhir_allowed_servers", (FHIR_ORIGIN,))
    return create_app(
        load_settings(environ={}, database_url="sqlite://", **settings),
        handlers={"guideline": captured.handler, "orders": captured.handler},
    )


@pytest.fixture
def captured() -> Captured:
    return Captured()


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything logged during the test, by the service and by requests/urllib3 (DEBUG)."""
    stream = io.StringIO()
    service_handler = logging.StreamHandler(stream)
    service_handler.setFormatter(JsonFormatter())
    plain_handler = logging.StreamHandler(stream)
    plain_handler.setFormatter(logging.Formatter("%(name)s %(message)s %(args)s"))
    service_logger = logging.getLogger("cds")
    root = logging.getLogger()
    old_root_level = root.level
    service_logger.addHandler(service_handler)
    root.addHandler(plain_handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        service_logger.removeHandler(service_handler)
        root.removeHandler(plain_handler)
        root.setLevel(old_root_level)


def fallback_failures(log_text: io.StringIO) -> dict[str, str]:
    """The detail the last `fhir fallback` log line keeps of each key that failed ("outcome:
    detail"); the client itself is only told NOT_PROVIDED."""
    lines = [json.loads(x) for x in log_text.getvalue().splitlines() if '"event":"fhir fallback"' in x]
    assert lines, "no fhir fallback log line"
    return lines[-1].get("failed") or {}
