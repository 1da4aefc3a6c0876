"""The cards' recent-result check takes its tests from the engine's one pass over the results:
on every reviewed scenario that set equals the chart check's own reading of the results."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from cds.cards import chart_facts
from cds.engine.facts import build_facts
from tests.cards.card_helpers import KNOWLEDGE

FIXTURE_DIR = Path(__file__).parents[2] / "fixtures"
FIXTURES = sorted(p for p in FIXTURE_DIR.glob("*.json") if ".expected" not in p.name)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_engine_and_chart_check_find_the_same_recent_tests(path: Path) -> None:
    fixture = json.loads(path.read_text())
    request = fixture["request"]
    prefetch = request.get("prefetch") or {}
    patient_id = request["context"].get("patientId")
    if not patient_id or not isinstance(prefetch, dict):
        pytest.skip("no patient in context")
    now = datetime.fromisoformat(fixture["now"].replace("Z", "+00:00"))
    on_its_own = chart_facts(prefetch, patient_id, now, KNOWLEDGE).recent_loincs
    assert build_facts(prefetch, patient_id, now, KNOWLEDGE).recent_loincs == on_its_own
