"""/admin/report: off unless admin_token is set, then only with it as a bearer token; counts only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.governance.conftest import fixture
from tests.governance.seed import PATIENT_ID, seed

TOKEN = "committee-token-6b1d"


def test_dashboard_is_off_without_an_admin_token(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    response = client.get("/admin/report", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and response.mimetype == "application/json"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ", f"bearer{TOKEN}"],
)
def test_dashboard_needs_the_token(make_app: Callable[..., Flask], header: str | None) -> None:
    client = make_app(admin_token=TOKEN).test_client()
    response = client.get("/admin/report", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in response.get_data(as_text=True)


def test_dashboard_shows_counts_and_flags_never_patient_data(make_app: Callable[..., Flask]) -> None:
    app = make_app(admin_token=TOKEN)
    now = fixture("empty-chart").now
    seed(app.extensions["cds"].database, now)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.get("/admin/report", headers=auth)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script
    page = response.get_data(as_text=True)
    assert "<script" not in page and "<svg" in page
    assert "Fatigue risk: 1 topic" in page and "Magnesium" in page
    assert PATIENT_ID not in page and "seen " not in page  # neither the id nor a clinician's comment
    data = client.get("/admin/report?format=json", headers=auth).get_json()
    flagged = [t["topic"] for t in data["topics"] if t["fatigueRisk"]]
    assert flagged == ["magnesium-testing-recommended"]
    assert data["calls"] == 8 * (9 + 12 + 4 + 6 + 3)
    week = "/admin/report?format=json&since=2026-10-08&until=2026-10-14"
    one_week = client.get(week, headers=auth).get_json()
    assert 0 < one_week["calls"] < data["calls"]
    assert client.get("/admin/report?since=yesterday", headers=auth).status_code == 400
    assert client.get("/admin/report?service=nope", headers=auth).status_code == 404
