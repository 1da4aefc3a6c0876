"""The dashboard with a shadow pilot running, in a real headless Chromium: the figures split by
knowledge version, the week the version took effect marked on the trend, and the pilot's
comparison drawn and tabled; a screenshot is left in tests/artifacts for review."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.config import load_settings
from cds.server.wsgi import build_app
from cds.tools.fixtures import list_fixtures
from tests.browser import ARTIFACTS
from tests.governance.conftest import ROOT, fixture
from tests.governance.seed import PATIENT_ID, seed
from tests.in_thread import serve_in_thread

pytestmark = pytest.mark.integration
TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters
PERIOD = "since=2026-08-01&until=2026-11-30"


@pytest.fixture
def piloted(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    candidate = tmp_path / "candidate.toml"
    candidate.write_text(
        'knowledge_label = "2027-01 lab assay change"\n[cutoff_overrides]\nb12_total_deficient = 150\n'
    )
    now = [fixture("empty-chart").now]
    settings = load_settings(
        environ={},
        database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}",
        admin_token=TOKEN,
        log_level="WARNING",
        preview_enabled=False,
        shadow_config=str(candidate),
        knowledge_label="2026 reviewed rules",
    )
    app = build_app(settings, clock=lambda: now[0])
    seed(app.extensions["cds"].database, now[0])  # eight weeks from before versions were kept
    client = app.test_client()
    for index, case in enumerate(list_fixtures(ROOT / "fixtures")):
        now[0] = case.now
        body = copy.deepcopy(case.request)
        body["hookInstance"] = f"5b000000-0000-4000-8000-{index:012d}"
        assert client.post(f"/cds-services/{case.service}", json=body).status_code == 200
    auth = {"Authorization": f"Bearer {TOKEN}"}
    data = client.get(f"/admin/report?{PERIOD}&format=json", headers=auth).get_json()
    with serve_in_thread(app) as base:
        yield base, data


def test_the_dashboard_with_a_pilot_running(browser: Any, piloted: tuple[str, dict[str, Any]]) -> None:
    from selenium.webdriver.common.by import By

    base, data = piloted
    [pilot] = data["shadow"]
    live = data["knowledgeVersion"]["version"]
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}})
    try:
        browser.get(f"{base}/admin/report?{PERIOD}")
        assert (
            f"rules now: knowledge version {live} (2026 reviewed rules)"
            in browser.find_element(By.CSS_SELECTOR, ".meta").text
        )

        # The trend marks the week the versioned rules took effect, after the unversioned weeks.
        trend = browser.find_element(By.CSS_SELECTOR, "svg[aria-label='Cards per week']")
        markers = trend.find_elements(By.CSS_SELECTOR, "line[stroke-dasharray]")
        assert len(markers) == 1 and f"▼ {live}" in trend.text

        # Every figure per version: the seeded weeks are unversioned, the fixtures' calls the live version.
        split = browser.find_element(By.XPATH, "//h2[.='By knowledge version']/following-sibling::table[1]")
        assert split.text.startswith("Version Calls Topic")
        versions = {v["version"]: v for v in data["versions"]}
        assert set(versions) == {None, live}
        assert f"unversioned\nbefore versions were recorded {versions[None]['calls']} " in split.text
        assert (
            f"{live}\n2026 reviewed rules\ntook effect 2026-10-15 09:30 UTC {versions[live]['calls']} "
            in split.text
        )
        version_rows = split.find_elements(By.CSS_SELECTOR, "tr")
        assert len(version_rows) == 1 + sum(len(v["topics"]) for v in versions.values())

        # The pilot: its headline figures, the chart of what would change, the table per topic.
        section = browser.find_element(By.CSS_SELECTOR, ".pilot")
        assert f"Shadow pilot: candidate {pilot['candidate']} (2027-01 lab assay change)" in section.text
        boxes = [b.text for b in section.find_elements(By.CSS_SELECTOR, ".figure")]
        share = f"{pilot['changedCallShare'] * 100:.0f}%"
        assert boxes[:2] == [
            f"{pilot['calls']}\ncalls assessed",
            f"{pilot['changedCalls']} ({share})\nanswers would change",
        ]
        deficiency = next(t for t in pilot["topics"] if t["topic"] == "b12-deficiency")
        assert (
            f"on {deficiency['changedCalls']} of the {deficiency['firedCalls']} calls it fired on"
            in section.text
        )
        bars = section.find_element(By.CSS_SELECTOR, "svg[aria-label='Cards that would change']")
        changed = [t for t in pilot["topics"] if t["changedCalls"]]
        assert len(bars.find_elements(By.CSS_SELECTOR, "text[text-anchor=end]")) == len(changed)
        assert bars.size["width"] > 600
        rows = section.find_elements(By.CSS_SELECTOR, "table tr")
        assert len(rows) == 1 + len(pilot["topics"])
        first = max(pilot["topics"], key=lambda t: t["changedCalls"])
        assert rows[1].text.startswith(first["display"])  # the topic most changed comes first
        assert len(section.find_elements(By.CSS_SELECTOR, "tr.quiet")) == len(pilot["topics"]) - len(changed)

        assert browser.find_elements(By.TAG_NAME, "script") == []
        assert PATIENT_ID not in browser.page_source
        height = browser.execute_script("return document.documentElement.scrollHeight")  # the whole page
        browser.set_window_size(1280, min(max(height + 120, 1000), 6000))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "governance-dashboard-pilot.png"))
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
        browser.set_window_size(1280, 1000)
