"""Topic modes: a silent topic is built but never returned, an off topic is neither, and
the clinician sees what they would see if the silent or off rule did not exist."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cds.answer.handlers import HANDLERS, Handler
from cds.config import ConfigError, load_settings
from cds.http.app import TOPICS_EXTENSION, create_app
from cds.services.call import HookCall
from cds.services.response import Answer, to_json
from cds.tools.fixtures import load_fixture

ROOT = Path(__file__).resolve().parents[2]
# Twitching, long-term PPI, no labs: the work-up absorbs the B12 and magnesium testing cards.
ABSORBING = load_fixture(ROOT / "fixtures" / "twitching-ppi-atc-no-labs.json")
WORKUP, B12_TEST, MG_TEST = "twitching-workup", "b12-testing-recommended", "magnesium-testing-recommended"


def _run(modes: dict[str, str]) -> tuple[list[str], list[str]]:
    """(topics returned, topics built silently) for the absorbing scenario under these modes."""
    answers: list[Answer] = []

    def capture(handler: Handler) -> Handler:
        def wrapped(call: HookCall) -> Answer:
            answers.append(handler(call))
            return answers[-1]

        return wrapped

    settings = load_settings(environ={}, database_url="sqlite://", topic_modes=modes)
    now: datetime = ABSORBING.now
    handlers = {name: capture(h) for name, h in HANDLERS.items()}
    client = create_app(settings, handlers=handlers, clock=lambda: now).test_client()
    response = client.post(f"/cds-services/{ABSORBING.service}", json=ABSORBING.request)
    assert response.status_code == 200, response.get_json()
    shown = sorted(c["source"]["topic"]["code"] for c in response.get_json()["cards"])
    silent = sorted(card.topic for card in answers[0].silent)
    return shown, silent


@pytest.mark.parametrize(
    ("modes", "shown", "silent"),
    [
        ({}, [WORKUP], []),
        ({WORKUP: "active"}, [WORKUP], []),
        # A silent work-up must not swallow the single testing cards the clinician would see.
        ({WORKUP: "silent"}, [B12_TEST, MG_TEST], [WORKUP]),
        # Off: as if the rule did not exist.
        ({WORKUP: "off"}, [B12_TEST, MG_TEST], []),
        # A silent absorbed topic is recorded only when switching it on would show it: the
        # active work-up absorbs it, so it would not show and nothing is recorded.
        ({B12_TEST: "silent"}, [WORKUP], []),
        ({WORKUP: "silent", B12_TEST: "silent"}, [MG_TEST], sorted([WORKUP, B12_TEST])),
        ({WORKUP: "silent", MG_TEST: "off"}, [B12_TEST], [WORKUP]),
        ({WORKUP: "off", B12_TEST: "off", MG_TEST: "off"}, [], []),
    ],
)
def test_modes_decide_what_is_shown_and_what_is_recorded_silently(
    modes: dict[str, str], shown: list[str], silent: list[str]
) -> None:
    assert _run(modes) == (shown, silent)


def test_silent_cards_are_the_cards_switching_the_topic_on_would_show() -> None:
    settings = load_settings(environ={}, database_url="sqlite://")
    now = ABSORBING.now
    active = create_app(settings, clock=lambda: now).test_client()
    live = active.post(f"/cds-services/{ABSORBING.service}", json=ABSORBING.request).get_json()["cards"]

    answers: list[Answer] = []
    quiet = create_app(
        settings.with_overrides(topic_modes={WORKUP: "silent"}),
        handlers={**HANDLERS, "guideline": lambda c: answers.append(HANDLERS["guideline"](c)) or answers[-1]},
        clock=lambda: now,
    ).test_client()
    quiet.post(f"/cds-services/{ABSORBING.service}", json=ABSORBING.request)
    silent = [to_json(card) for card in answers[0].silent]
    # Same uuid, summary and suggestions; only the knowledge version differs (the modes did).
    assert [_unversioned(c) for c in silent] == [_unversioned(c) for c in live]
    assert silent[0]["extension"] != live[0]["extension"]


def _unversioned(card: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card.items() if k != "extension"}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"topic_modes": {"no-such-topic": "silent"}}, "no-such-topic"),
        ({"topic_modes": {WORKUP: "quiet"}}, "quiet"),
    ],
)
def test_unknown_topic_or_mode_stops_start_up_naming_it(source: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(load_settings(environ={}, database_url="sqlite://", **source))


def test_topic_modes_from_toml_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "cds.toml"
    config.write_text(f'[topic_modes]\n"{WORKUP}" = "silent"\n"{B12_TEST}" = "off"\n')
    assert load_settings(config, environ={}).topic_modes == {WORKUP: "silent", B12_TEST: "off"}
    env = {"CDS_TOPIC_MODES": f'{{"{MG_TEST}": "silent"}}'}
    assert load_settings(config, environ=env).topic_modes == {MG_TEST: "silent"}
    with pytest.raises(ConfigError, match="CDS_TOPIC_MODES"):
        load_settings(environ={"CDS_TOPIC_MODES": "silent"})


def test_discovery_names_every_topic_of_each_service_with_its_mode() -> None:
    modes = {WORKUP: "silent", MG_TEST: "off"}
    settings = load_settings(environ={}, database_url="sqlite://", topic_modes=modes)
    services = create_app(settings).test_client().get("/cds-services").get_json()["services"]
    modes = {s["id"]: s["extension"][TOPICS_EXTENSION] for s in services}
    screen = modes["deficiency-screen"]
    assert screen[WORKUP] == "silent" and screen[MG_TEST] == "off" and screen["b12-deficiency"] == "active"
    assert "b12-duplicate-therapy" not in screen  # an order-hook topic
    sign = modes["deficiency-order-sign"]
    assert sign == {
        "b12-duplicate-therapy": "active",
        "folate-without-b12": "active",
        B12_TEST: "active",
        MG_TEST: "off",
    }


def test_a_mode_is_checked_wherever_settings_are_built() -> None:
    with pytest.raises(ConfigError, match=rf"topic_modes'\['{WORKUP}'\].*got 'quiet'"):
        load_settings(environ={}).with_overrides(topic_modes={WORKUP: "quiet"})
