"""A service on a real SQLite file, with the clock at the fixtures' "now", for governance tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cds.config import Settings, load_settings
from cds.server.wsgi import build_app
from cds.tools.fixtures import Fixture, load_fixture

ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> Fixture:
    return load_fixture(ROOT / "fixtures" / f"{name}.json")


def request_for(name: str, hook_instance: str) -> dict[str, Any]:
    body = copy.deepcopy(fixture(name).request)
    body["hookInstance"] = hook_instance
    return body


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cds.sqlite3'}"


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        values: dict[str, Any] = {"database_url": db_url, "audit_flush_s": 0, "preview_enabled": False,
                                  "data_dir": str(tmp_path / "data")}  # fmt: skip
        values.update(overrides)
        settings: Settings = load_settings(environ={}, **values)
        now = fixture("empty-chart").now
        return build_app(settings, clock=lambda: now)

    return make


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()
