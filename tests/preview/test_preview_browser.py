"""The preview page in a real headless Chromium: fixtures load and cards render as an EHR shows them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests

from cds.answer.handlers import HANDLERS, Handler
from cds.config import load_settings
from cds.server.wsgi import build_app
from cds.services.call import HookCall
from cds.services.response import Answer, Card
from tests.browser import ARTIFACTS
from tests.in_thread import serve_in_thread

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"
STUB_CARD: dict[str, Any] = {
    "uuid": "6a1f0c52-2f0b-4a52-9c59-1f6d4c3f1b10",
    "summary": "Vitamin B12 deficiency: B12 <150 pg/mL",
    "indicator": "warning",
    "detail": (
        "### Evidence\n\n| Test | Result | Date |\n|---|---|---|\n"
        "| Vitamin B12 | <150 pg/mL | 2026-10-12 |\n\n"
        "**Likely causes**\n\n- Vegan diet\n- Age 29\n\n" + HOSTILE
    ),
    "source": {
        "label": "myelin-cds",
        "url": "https://myelin-cds.example.org/docs/topics/b12-deficiency",
        "topic": {"system": "urn:test", "code": "b12-deficiency", "display": "Vitamin B12 deficiency"},
    },
    "selectionBehavior": "at-most-one",
    "suggestions": [
        {
            "label": "Order methylmalonic acid",
            "uuid": "2c9e7a41-5d3b-5e8f-a1c2-3b4d5e6f7a80",
            "isRecommended": True,
            "actions": [
                {
                    "type": "create",
                    "description": "Order MMA",
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "status": "draft",
                        "intent": "proposal",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "13964-2"}]},
                    },
                }
            ],
        }
    ],
    "links": [{"label": "NICE NG239", "url": "https://www.nice.org.uk/guidance/ng239", "type": "absolute"}],
}


def stub_handler(call: HookCall) -> Answer:
    return Answer(cards=(msgspec.convert(STUB_CARD, Card),))


def _serve(handlers: dict[str, Handler]) -> Iterator[str]:
    settings = load_settings(
        environ={}, database_url="sqlite://", log_level="WARNING", fixtures_dir=str(FIXTURES)
    )
    with serve_in_thread(build_app(settings, handlers=handlers)) as base:
        yield base


@pytest.fixture
def stub_service() -> Iterator[str]:
    yield from _serve({"guideline": stub_handler, "orders": stub_handler})


@pytest.fixture
def real_service() -> Iterator[str]:
    yield from _serve(dict(HANDLERS))


def _open_fixture(driver: Any, base: str, name: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "/")
    wait = WebDriverWait(driver, 15)
    button = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'[data-fixture="{name}"]')))
    button.click()
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") in {"done", "error"})
    status = driver.find_element(By.ID, "status")
    assert status.get_attribute("data-state") == "done", status.text
    return driver


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    return path


def test_page_renders_a_card_as_an_ehr_would(browser: Any, stub_service: str) -> None:
    from selenium.webdriver.common.by import By

    driver = _open_fixture(browser, stub_service, "b12-deficiency-comparator-vegan")
    cards = driver.find_elements(By.CSS_SELECTOR, "#cards article.card")
    assert len(cards) == 1
    card = cards[0]
    assert card.get_attribute("data-indicator") == "warning"
    assert "card-warning" in card.get_attribute("class")
    assert card.find_element(By.CSS_SELECTOR, ".indicator").text.lower() == "warning"
    assert card.find_element(By.CSS_SELECTOR, ".card-summary").text == STUB_CARD["summary"]
    # Markdown detail: a real table and list, and the hostile HTML shown as text, never run.
    cells = [td.text for td in card.find_elements(By.CSS_SELECTOR, ".card-detail table td")]
    assert cells == ["Vitamin B12", "<150 pg/mL", "2026-10-12"]
    items = card.find_elements(By.CSS_SELECTOR, ".card-detail ul li")
    assert [li.text for li in items] == ["Vegan diet", "Age 29"]
    assert card.find_elements(By.CSS_SELECTOR, ".card-detail img") == []
    assert HOSTILE in card.find_element(By.CSS_SELECTOR, ".card-detail").text
    assert driver.title != "pwned"
    # The patient banner comes from the request's Patient resource.
    assert "Maya Lindqvist" in driver.find_element(By.ID, "patient-banner").text
    # Suggestions are buttons; a click shows the resource the EHR would create.
    button = card.find_element(By.CSS_SELECTOR, "button.suggestion")
    assert button.text == "Order methylmalonic acid" and "recommended" in button.get_attribute("class")
    button.click()
    shown = json.loads(card.find_element(By.CSS_SELECTOR, ".suggestion-resource").text)
    assert shown[0]["resource"]["code"]["coding"][0]["code"] == "13964-2"
    link = card.find_element(By.CSS_SELECTOR, ".card-links a")
    assert (
        link.text == "NICE NG239" and link.get_attribute("href") == "https://www.nice.org.uk/guidance/ng239"
    )
    _screenshot(driver, "preview-stub-card.png")


def _fixture_with_warning_card() -> tuple[str, int]:
    for golden in sorted(FIXTURES.glob("*.expected.json")):
        cards = json.loads(golden.read_text())["cards"]
        for index, card in enumerate(cards):
            if card["indicator"] == "warning":
                return golden.name[: -len(".expected.json")], index
    pytest.fail("no fixture has a warning card in its golden file: run `cds replay --update fixtures/`")


def test_a_fixture_shows_the_cards_the_service_returns(browser: Any, real_service: str) -> None:
    from selenium.webdriver.common.by import By

    name, index = _fixture_with_warning_card()
    # What an EHR would get for the same (date-shifted) request, straight from the endpoint.
    loaded = requests.get(f"{real_service}/preview/fixtures/{name}", timeout=10).json()
    response = requests.post(
        f"{real_service}/cds-services/{loaded['service']}", json=loaded["request"], timeout=10
    ).json()
    expected = response["cards"][index]
    assert expected["indicator"] == "warning"

    driver = _open_fixture(browser, real_service, name)
    cards = driver.find_elements(By.CSS_SELECTOR, "#cards article.card")
    assert len(cards) == len(response["cards"])
    card = cards[index]
    assert card.get_attribute("data-indicator") == "warning"
    assert card.get_attribute("data-topic") == expected["source"]["topic"]["code"]
    assert card.find_element(By.CSS_SELECTOR, ".card-summary").text == expected["summary"]
    assert "Matches the golden cards" in driver.find_element(By.ID, "golden-status").text
    _screenshot(driver, "preview-fixture-cards.png")
