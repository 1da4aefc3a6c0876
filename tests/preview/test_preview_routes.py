"""The preview blueprint: served only when enabled, fixtures listed and moved to "now"."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from cds.config import load_settings
from cds.server.wsgi import build_app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def client(**overrides: object) -> FlaskClient:
    settings = load_settings(environ={}, database_url="sqlite://", log_level="WARNING", **overrides)
    return build_app(settings, clock=lambda: NOW).test_client()


@pytest.fixture
def preview() -> FlaskClient:
    return client(fixtures_dir=str(FIXTURES))


def test_page_and_assets_are_served_without_external_resources(preview: FlaskClient) -> None:
    page = preview.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # no CDN: the page works offline
    for name, mimetype in (
        ("preview.js", "text/javascript"),
        ("markdown.js", "text/javascript"),
        ("preview.css", "text/css"),
    ):
        asset = preview.get(f"/preview/static/{name}")
        assert asset.status_code == 200 and asset.mimetype == mimetype
        assert f"/preview/static/{name}" in html


def test_only_the_page_assets_are_served(preview: FlaskClient) -> None:
    response = preview.get("/preview/static/__init__.py")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_turned_off_there_is_no_page() -> None:
    off = client(preview_enabled=False, fixtures_dir=str(FIXTURES))
    assert off.get("/").status_code == 404
    assert off.get("/preview/fixtures").status_code == 404
    assert off.get("/preview/static/preview.js").status_code == 404


def test_fixture_list_names_every_fixture_with_its_intent(preview: FlaskClient) -> None:
    listed = preview.get("/preview/fixtures").get_json()["fixtures"]
    on_disk = sorted(p.name[:-5] for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))
    assert [f["name"] for f in listed] == on_disk
    twitching = next(f for f in listed if f["name"] == "twitching-no-labs")
    assert twitching["intentTopics"] == ["twitching-workup"]
    assert twitching["service"] == "deficiency-screen"


def test_a_fixture_comes_with_dates_moved_to_the_service_clock(preview: FlaskClient) -> None:
    body = preview.get("/preview/fixtures/twitching-no-labs").get_json()
    condition = body["request"]["prefetch"]["conditions"]["entry"][0]["resource"]
    original = json.loads((FIXTURES / "twitching-no-labs.json").read_text())
    assert original["now"].startswith("2026-10-15")
    assert condition["onsetDateTime"] == "2027-02-15"  # 14 days before NOW, as 2026-10-01 was
    assert body["request"]["hookInstance"] == original["request"]["hookInstance"]


@pytest.mark.parametrize("name", ["no-such-fixture", "b12-boundary-180.expected", "..", ".hidden"])
def test_unknown_fixture_names_are_404(preview: FlaskClient, name: str) -> None:
    response = preview.get(f"/preview/fixtures/{name}")
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["code"] == "not-found"


def test_the_page_sends_what_the_service_accepts(preview: FlaskClient) -> None:
    body = preview.get("/preview/fixtures/normal-no-risk-factors").get_json()
    response = preview.post(f"/cds-services/{body['service']}", json=body["request"])
    assert response.status_code == 200 and isinstance(response.get_json()["cards"], list)
