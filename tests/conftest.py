"""Shared test helpers for the protocol-level tests in this folder."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from cds.config import Settings, load_settings
from cds.http.app import create_app
from tests.browser import headless_chromium

# Property tests draw as many examples as the profile says: few for the quick inner loop
# (`make check`), more for the whole suite (`make test`, which CI runs), a deep search on demand.
hypothesis_settings.register_profile("dev", max_examples=20, deadline=None)
hypothesis_settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile("deep", max_examples=5000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"

_PATIENT_VIEW: dict[str, Any] = {
    "hook": "patient-view",
    "hookInstance": HOOK_INSTANCE,
    "context": {"userId": "Practitioner/example", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}


def patient_view_request(**changes: Any) -> dict[str, Any]:
    """A valid patient-view call for deficiency-screen; keyword arguments replace top-level fields."""
    body = copy.deepcopy(_PATIENT_VIEW)
    body.update(changes)
    return body


@pytest.fixture(scope="session", autouse=True)
def _data_dir_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default data_dir (files the service keeps, its audit key among them) is in a temporary
    directory, never the home directory of whoever runs the tests."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={}, database_url="sqlite://")


@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A real headless Chromium, one per test module."""
    with headless_chromium() as driver:
        yield driver
