"""Every fixture, replayed in process, gives exactly its reviewed golden cards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.tools.fixture_replay import Sender, in_process_sender, replay_fixture
from cds.tools.fixtures import Fixture, fixture_paths, load_fixture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ALL = [load_fixture(p) for p in fixture_paths([FIXTURES])]

# Scenarios where B12 therapy is already active: no card may offer to start it again.
ON_B12_THERAPY = (
    "b12-high-on-supplement",
    "b12-treatment-monitoring-oral",
    "b12-treatment-monitoring-text-only-injection",
)
B12_CODES = {"11248", "5514", "B03BA01", "B03BA03", "B03BA05"}
B12_WORDS = ("cobalamin", "vitamin b12")


@pytest.fixture(scope="module")
def send() -> Iterator[Sender]:
    yield in_process_sender()


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_fixture_matches_its_golden(fixture: Fixture, send: Sender) -> None:
    result = replay_fixture(fixture, send)
    assert result.error is None, result.error
    assert result.differences == [], "\n".join(result.differences)


def _b12_medication_requests(cards: list[dict[str, Any]]) -> list[str]:
    offered = []
    for card in cards:
        for suggestion in card.get("suggestions") or ():
            for action in suggestion.get("actions") or ():
                resource = action.get("resource") or {}
                if resource.get("resourceType") != "MedicationRequest":
                    continue
                concept = resource.get("medicationCodeableConcept") or {}
                codes = {c.get("code") for c in concept.get("coding") or ()}
                text = (concept.get("text") or "").lower()
                if codes & B12_CODES or any(word in text for word in B12_WORDS):
                    offered.append(suggestion.get("label", "?"))
    return offered


@pytest.mark.parametrize("name", ON_B12_THERAPY)
def test_patients_on_b12_are_never_offered_b12(name: str, send: Sender) -> None:
    fixture = load_fixture(FIXTURES / f"{name}.json")
    result = replay_fixture(fixture, send, update=False)
    assert result.status == 200
    assert _b12_medication_requests(result.response["cards"]) == []


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_golden_topics_agree_with_the_clinical_intent(fixture: Fixture) -> None:
    """A reviewed golden never drifts from what the scenario was written to show."""
    golden = fixture.load_golden()
    assert golden is not None, f"{fixture.name}: no golden file"
    assert sorted(card["topic"] for card in golden["cards"]) == sorted(fixture.intent_topics)
