"""The committee dashboard in a real headless Chromium: it renders without script, shows the
flags and charts, refuses a browser without the token, and leaves a screenshot to review."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.config import load_settings
from cds.server.wsgi import build_app
from tests.browser import ARTIFACTS
from tests.governance.conftest import fixture
from tests.governance.seed import PATIENT_ID, SILENT_TOPIC, seed
from tests.in_thread import serve_in_thread

pytestmark = pytest.mark.integration
TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    now = fixture("empty-chart").now
    settings = load_settings(environ={}, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
                             admin_token=TOKEN, log_level="WARNING", preview_enabled=False,
                             topic_modes={SILENT_TOPIC: "silent"})  # fmt: skip
    app = build_app(settings, clock=lambda: now)
    seed(app.extensions["cds"].database, now)
    with serve_in_thread(app) as base:
        yield base


def _headers(driver: Any, headers: dict[str, str]) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


def test_dashboard_in_a_browser(browser: Any, dashboard: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    _headers(browser, {})
    browser.get(dashboard + "/admin/report")
    assert "the report needs the admin bearer token" in browser.page_source  # 401 without the token

    _headers(browser, {"Authorization": f"Bearer {TOKEN}"})
    try:
        browser.get(dashboard + "/admin/report")
        assert browser.title == "CDS card report"
        flags = browser.find_element(By.CSS_SELECTOR, ".flags")
        assert "Fatigue risk: 1 topic" in flags.text and "Magnesium testing recommended" in flags.text
        charts = browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")
        assert [c.get_attribute("aria-label") for c in charts] == [
            "Cards per topic",
            "Cards per week",
            "Top override reasons",
        ]
        assert len(charts[1].find_elements(By.CSS_SELECTOR, "rect")) >= 8 * 3  # 8 weeks, three series
        assert charts[0].size["width"] > 600  # drawn, not collapsed
        assert "Test already ordered or pending" in charts[2].text  # reasons by name, not code
        assert browser.find_elements(By.TAG_NAME, "script") == []
        assert PATIENT_ID not in browser.page_source
        browser.set_window_size(1280, 1900)
        for folder in (ARTIFACTS, tmp_path):
            folder.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(folder / "governance-dashboard.png"))

        # A committee member follows the flagged topic's name to its own view.
        browser.find_element(By.CSS_SELECTOR, ".flags a").click()
        assert "topic=magnesium-testing-recommended" in browser.current_url
        assert "Magnesium testing recommended" in browser.find_element(By.CSS_SELECTOR, ".scope").text
        rows = browser.find_elements(By.CSS_SELECTOR, "table.topics tr")
        assert len(rows) == 2  # the header and this topic's row only
        for folder in (ARTIFACTS, tmp_path):
            assert browser.save_screenshot(str(folder / "governance-dashboard-topic.png"))
        # The silent pilot's own view: the calls it would have shown on, and its weeks drawn.
        browser.get(dashboard + f"/admin/report?topic={SILENT_TOPIC}")
        boxes = [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".figure")]
        assert "24 (8.8%)\ncalls it would have shown on (silent)" in boxes
        trend = browser.find_element(By.CSS_SELECTOR, "svg[aria-label='Cards per week']")
        assert len(trend.find_elements(By.CSS_SELECTOR, "rect")) == 8  # one dashed column a week
        assert trend.text.count("3 silent") == 8
        for folder in (ARTIFACTS, tmp_path):
            assert browser.save_screenshot(str(folder / "governance-dashboard-silent-topic.png"))
    finally:
        _headers(browser, {})
        browser.set_window_size(1280, 1000)
