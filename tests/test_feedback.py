"""Feedback: validated per the specification and stored durably, all items or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.http.app import create_app
from cds.store.database import open_database
from cds.store.feedback import SqlFeedbackStore

URL = "/cds-services/deficiency-screen/feedback"
CARD = "9a6a1c43-8f0e-4d5c-9a0e-3f3cf3b7a111"


def _accepted(**changes: Any) -> dict[str, Any]:
    item = {
        "card": CARD,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "1d7c0b52-1f3b-4a5e-8d0c-4b1c2f6e9a22"}],
        "outcomeTimestamp": "2026-11-20T10:15:00Z",
    }
    item.update(changes)
    return item


def _overridden() -> dict[str, Any]:
    return {
        "card": CARD,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "https://example.org", "code": "declined", "display": "Patient declined"},
            "userComment": "will retest next visit",
        },
        "outcomeTimestamp": "2026-11-20T10:16:00+01:00",
    }


def _file_settings(settings, tmp_path: Path):
    return settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")


def test_feedback_is_stored_and_the_same_card_may_get_more(settings, tmp_path: Path) -> None:
    settings = _file_settings(settings, tmp_path)
    store = SqlFeedbackStore(open_database(settings))
    client = create_app(settings).test_client()
    first = client.post(URL, json={"feedback": [_accepted()]})
    second = client.post(URL, json={"feedback": [_overridden()]})
    assert first.status_code == 200 and second.status_code == 200
    records = store.for_card(CARD)
    assert [r.outcome for r in records] == ["accepted", "overridden"]
    assert records[0].accepted_suggestions == ("1d7c0b52-1f3b-4a5e-8d0c-4b1c2f6e9a22",)
    assert records[1].override_reason["reason"]["code"] == "declined"
    assert records[0].service_id == "deficiency-screen"
    # Durable: another connection to the same file sees what was accepted.
    assert len(SqlFeedbackStore(open_database(settings)).for_card(CARD)) == 2


def test_an_identical_item_sent_again_is_stored_once_and_still_answered_200(settings, tmp_path: Path) -> None:
    settings = _file_settings(settings, tmp_path)
    client = create_app(settings).test_client()
    body = {"feedback": [_accepted()]}
    assert client.post(URL, json=body).status_code == 200
    retried = client.post(URL, json=body)
    twice_in_one = client.post(URL, json={"feedback": [_overridden(), _overridden()]})
    assert retried.status_code == 200 and twice_in_one.status_code == 200
    # Key order is not identity: the same item with its keys reordered is the same item.
    reordered = dict(reversed(list(_accepted().items())))
    assert client.post(URL, json={"feedback": [reordered]}).status_code == 200
    assert [r.outcome for r in SqlFeedbackStore(open_database(settings)).for_card(CARD)] == [
        "accepted",
        "overridden",
    ]


def test_the_same_item_for_another_service_is_another_item(settings, tmp_path: Path) -> None:
    settings = _file_settings(settings, tmp_path)
    client = create_app(settings).test_client()
    assert client.post(URL, json={"feedback": [_accepted()]}).status_code == 200
    other = "/cds-services/deficiency-order-sign/feedback"
    assert client.post(other, json={"feedback": [_accepted()]}).status_code == 200
    services = [r.service_id for r in SqlFeedbackStore(open_database(settings)).for_card(CARD)]
    assert services == ["deficiency-screen", "deficiency-order-sign"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({k: v for k, v in _accepted().items() if k != "card"}, "card"),
        ({k: v for k, v in _accepted().items() if k != "outcome"}, "outcome"),
        ({k: v for k, v in _accepted().items() if k != "outcomeTimestamp"}, "outcomeTimestamp"),
        ({k: v for k, v in _accepted().items() if k != "acceptedSuggestions"}, "acceptedSuggestions"),
        (_accepted(outcome="maybe"), "outcome"),
        (_accepted(outcomeTimestamp="yesterday"), "outcomeTimestamp"),
        (_accepted(acceptedSuggestions=[{}]), "acceptedSuggestions[0].id"),
    ],
)
def test_invalid_feedback_is_400_naming_the_field(client: FlaskClient, item: dict, field: str) -> None:
    response = client.post(URL, json={"feedback": [item]})
    assert response.status_code == 400
    assert field in response.get_json()["issue"][0]["diagnostics"]


def test_a_bad_item_rejects_the_whole_batch_and_keeps_earlier_feedback(settings, tmp_path: Path) -> None:
    settings = _file_settings(settings, tmp_path)
    store = SqlFeedbackStore(open_database(settings))
    client = create_app(settings).test_client()
    assert client.post(URL, json={"feedback": [_accepted()]}).status_code == 200
    bad = client.post(URL, json={"feedback": [_overridden(), _accepted(outcome="nope")]})
    assert bad.status_code == 400
    assert [r.outcome for r in store.for_card(CARD)] == ["accepted"]


def test_feedback_for_unknown_service_is_404(client: FlaskClient) -> None:
    response = client.post("/cds-services/nope/feedback", json={"feedback": [_accepted()]})
    assert response.status_code == 404


def test_feedback_with_extension_is_accepted(client: FlaskClient) -> None:
    item = _accepted(extension={"com.example": {"x": 1}})
    response = client.post(URL, json={"feedback": [item], "extension": {"a": 1}})
    assert response.status_code == 200
