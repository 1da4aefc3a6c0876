"""/admin/report: off unless admin_token is set, then only with it as a bearer token; counts only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.governance.conftest import fixture
from tests.governance.seed import PATIENT_ID, seed

TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters


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
    # the silent pilot's firing rate: 3 calls a week for 8 weeks, of 8 x 34 calls
    assert "silent: would have shown on 24 (8.8%) calls" in page
    assert "<th>Silent on calls</th>" in page and "<td>24 (8.8%)</td>" in page
    assert PATIENT_ID not in page and "seen " not in page  # neither the id nor a clinician's comment
    data = client.get("/admin/report?format=json", headers=auth).get_json()
    flagged = [t["topic"] for t in data["topics"] if t["fatigueRisk"]]
    assert flagged == ["magnesium-testing-recommended"]
    assert data["calls"] == 8 * (9 + 12 + 4 + 6 + 3)
    week = "/admin/report?format=json&since=2026-10-08&until=2026-10-14"
    one_week = client.get(week, headers=auth).get_json()
    assert 0 < one_week["calls"] < data["calls"]
    assert client.get("/admin/report?since=yesterday", headers=auth).status_code == 400
    assert client.get("/admin/report?service=nope", headers=auth).status_code == 400


MG = "magnesium-testing-recommended"


def test_a_topic_filters_the_whole_page(make_app: Callable[..., Flask]) -> None:
    app = make_app(admin_token=TOKEN)
    seed(app.extensions["cds"].database, fixture("empty-chart").now)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    everything = client.get("/admin/report?format=json", headers=auth).get_json()
    data = client.get(f"/admin/report?format=json&topic={MG}", headers=auth).get_json()
    assert data["topic"] == MG and [t["topic"] for t in data["topics"]] == [MG]
    assert [w["shown"] for w in data["weeks"]] == [12] * 8  # the trend is this topic's alone
    assert [w["overridden"] for w in data["weeks"]] == [sum(0.1 <= i / 12 < 0.9 for i in range(12))] * 8
    assert sum(w["shown"] for w in everything["weeks"]) > sum(w["shown"] for w in data["weeks"])
    assert data["calls"] == everything["calls"]  # the denominator of its firing rate stays every call

    page = client.get(f"/admin/report?topic={MG}&since=2026-09-01", headers=auth).get_data(as_text=True)
    assert "Topic: <b>Magnesium testing recommended</b>" in page
    assert 'href="?since=2026-09-01">all topics</a>' in page  # back to every topic, same period
    assert "Order test for b12-deficiency" not in page and "Patient declined" not in page
    assert "Test already ordered or pending" in page  # this topic's own override reason


def test_each_topic_name_links_to_its_filtered_view(make_app: Callable[..., Flask]) -> None:
    app = make_app(admin_token=TOKEN)
    seed(app.extensions["cds"].database, fixture("empty-chart").now)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = app.test_client().get("/admin/report?since=2026-09-01&service=deficiency-screen", headers=auth)
    html = page.get_data(as_text=True)
    link = f'href="?since=2026-09-01&amp;service=deficiency-screen&amp;topic={MG}"'
    assert html.count(link) == 3  # its bar's label, the fatigue flag and the table row
    for topic in ("b12-deficiency", "electrolyte-imbalance", "b12-testing-recommended", "twitching-workup"):
        assert html.count(f'&amp;topic={topic}"') == 2  # bar label and table row (not flagged)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("since=yesterday", "yesterday"),
        ("until=2026-13-01", "2026-13-01"),
        ("until=9999-12-31", "9999-12-31"),  # the day after does not exist
        ("until=0001-01-02", "since"),  # twelve weeks before it do not exist
        ("since=2026-10-10&until=2026-10-01", "before"),
        ("topic=b12-deficency", "b12-deficency"),
        ("topic=", None),  # empty: all topics, as when absent
        ("service=nope", "nope"),
        ("format=xml", "xml"),
        ("topics=b12-deficiency", "topics"),
        ("topic=b12-deficiency&topic=twitching-workup", "topic"),
    ],
)
def test_a_wrong_parameter_is_a_400_operation_outcome(
    make_app: Callable[..., Flask], query: str, names: str | None
) -> None:
    client = make_app(admin_token=TOKEN).test_client()
    response = client.get(f"/admin/report?{query}", headers={"Authorization": f"Bearer {TOKEN}"})
    if names is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert names in body["issue"][0]["diagnostics"]


def test_a_silent_pilots_view_shows_what_it_would_have_done(make_app: Callable[..., Flask]) -> None:
    app = make_app(admin_token=TOKEN, topic_modes={"twitching-workup": "silent"})
    seed(app.extensions["cds"].database, fixture("empty-chart").now)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = app.test_client().get("/admin/report?topic=twitching-workup", headers=auth).get_data(as_text=True)
    assert "<b>24 (8.8%)</b><span>calls it would have shown on (silent)</span>" in page
    assert "calls answered (all topics)" in page  # the denominator, not the topic's own calls
    assert page.count(">3 silent</text>") == 8  # its weeks are drawn, not an empty chart
    assert "Recorded silently 3</title>" in page


def test_a_short_admin_token_is_refused_at_start_up() -> None:
    from cds.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="'admin_token': must be at least 32 characters"):
        load_settings(environ={"CDS_ADMIN_TOKEN": "x" * 31})
    assert load_settings(environ={"CDS_ADMIN_TOKEN": "x" * 32}).admin_token == "x" * 32


def test_failed_attempts_are_limited_per_client_address(make_app: Callable[..., Flask]) -> None:
    client = make_app(admin_token=TOKEN).test_client()
    here = {"REMOTE_ADDR": "192.0.2.7"}
    wrong = {"Authorization": "Bearer not-the-token"}
    statuses = [client.get("/admin/report", headers=wrong, environ_base=here).status_code for _ in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    refused = client.get("/admin/report", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=here)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1  # even the right token
    assert refused.get_json()["issue"][0]["code"] == "throttled"
    # Another address is not held back by this one's failures.
    other = client.get("/admin/report", headers={"Authorization": f"Bearer {TOKEN}"},
                       environ_base={"REMOTE_ADDR": "192.0.2.8"})  # fmt: skip
    assert other.status_code == 200
