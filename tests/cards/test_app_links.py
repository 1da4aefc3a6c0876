"""Cards link to the SMART companion app only when the site registered it (smart_client_id).

Off (the default), every fixture's answer carries no `smart` link at all; on, the B12,
calcium, magnesium and electrolyte cards carry one, whose `appContext` names the topic and the
series to show first, and nothing else in the answer changes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cds.cards.app_link import PANELS
from cds.config import load_settings
from cds.http.app import create_app
from cds.http.request import validate_against
from cds.tools.fixtures import Fixture, fixture_paths, load_fixture

ROOT = Path(__file__).resolve().parents[2]
ALL = [load_fixture(p) for p in fixture_paths([ROOT / "fixtures"])]
BASE = "https://cds.example.org"


def _answer(fixture: Fixture, **settings: Any) -> dict[str, Any]:
    app = create_app(
        load_settings(
            environ={}, database_url="sqlite://", public_base_url=BASE, log_level="WARNING", **settings
        ),
        clock=lambda: fixture.now,
    )
    response = app.test_client().post(f"/cds-services/{fixture.service}", json=fixture.request)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _without_smart_links(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without the app's links and the knowledge version (registering the app is a
    change of what cards carry, so it is a new version)."""
    stripped = copy.deepcopy(answer)
    for card in stripped["cards"]:
        card["links"] = [link for link in card["links"] if link["type"] != "smart"]
        card.pop("extension", None)
    return stripped


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_the_app_link_is_the_only_difference_and_absent_by_default(fixture: Fixture) -> None:
    off = _answer(fixture)
    on = _answer(fixture, smart_client_id="myelin-companion")
    assert '"smart"' not in json.dumps(off) and "appContext" not in json.dumps(off)
    assert _without_smart_links(on) == _without_smart_links(off)
    validate_against("response", on)
    for card in on["cards"]:
        topic = card["source"]["topic"]["code"]
        smart = [link for link in card["links"] if link["type"] == "smart"]
        if topic not in PANELS:
            assert smart == [], topic
            continue
        assert len(smart) == 1, topic
        assert smart[0]["url"] == f"{BASE}/app/launch"
        context = json.loads(smart[0]["appContext"])
        assert context["topic"] == topic and context["panel"] == PANELS[topic]


def test_the_link_brings_the_card_s_result_into_view() -> None:
    by_name = {f.name: f for f in ALL}
    expected = {
        "b12-treatment-monitoring-oral": ("b12-treatment-monitoring", "b12", "b12_total"),
        "hypomagnesemia-ppi-furosemide": ("hypomagnesemia", "chemistry", "magnesium"),
        "hypocalcemia-ionized-normal-magnesium": ("hypocalcemia", "chemistry", "calcium_ionized"),
        "ppi-long-term-no-tests": ("magnesium-testing-recommended", "chemistry", "magnesium"),
        "hyponatremia-severe-older-adult": ("electrolyte-imbalance", "chemistry", "sodium"),
    }
    for name, (topic, panel, analyte) in expected.items():
        answer = _answer(by_name[name], smart_client_id="myelin-companion")
        card = next(c for c in answer["cards"] if c["source"]["topic"]["code"] == topic)
        link = next(link for link in card["links"] if link["type"] == "smart")
        assert json.loads(link["appContext"]) == {"topic": topic, "panel": panel, "analyte": analyte}, name
