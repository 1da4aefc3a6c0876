"""Feedback (CDS Hooks 2.0): outcomeTimestamp must be a real instant, not just timestamp-shaped."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

FEEDBACK = "/cds-services/deficiency-screen/feedback"


def _item(timestamp: str) -> dict:
    return {
        "card": "7f4b5a9e-0a59-4d3b-9a1e-8c1f7d0f2a10",
        "outcome": "overridden",
        "outcomeTimestamp": timestamp,
    }


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-13-45T99:99:99Z",
        "2026-02-30T10:00:00Z",
        "2026-11-25T24:00:00+00:00",
        "2026-11-25T10:00:00+25:00",
    ],
)
def test_impossible_timestamps_are_refused(client: FlaskClient, timestamp: str) -> None:
    response = client.post(FEEDBACK, json={"feedback": [_item("2026-11-25T10:00:00Z"), _item(timestamp)]})
    assert response.status_code == 400
    issue = response.get_json()["issue"][0]
    assert issue["expression"] == ["feedback[1].outcomeTimestamp"]
    assert timestamp in issue["diagnostics"]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-25T10:00:00Z",
        "2026-11-25t10:00:00.123456z",
        "2026-11-25T10:00:00-05:00",
        "2024-02-29T23:59:59+14:00",
        "2016-12-31T23:59:60Z",
    ],
)
def test_rfc3339_timestamps_are_accepted(client: FlaskClient, timestamp: str) -> None:
    response = client.post(FEEDBACK, json={"feedback": [_item(timestamp)]})
    assert response.status_code == 200, response.get_json()
