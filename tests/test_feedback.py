"""Feedback: validated per the specification and stored durably, all items or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.http.app import create_app
from cds.store.feedback import SqliteFeedbackStore

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


def _overridden(**changes: Any) -> dict[str, Any]:
    return {
        "card": CARD,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "https://example.org", "code": "declined", "display": "Patient declined"},
            "userComment": "will retest next visit",
        },
        "outcomeTimestamp": "2026-11-20T10:16:00+01:00",
    } | changes


def test_feedback_is_stored_and_the_same_card_may_get_more(settings, tmp_path: Path) -> None:
    store = SqliteFeedbackStore(str(tmp_path / "feedback.sqlite3"))
    client = create_app(settings, feedback_store=store).test_client()
    first = client.post(URL, json={"feedback": [_accepted()]})
    second = client.post(URL, json={"feedback": [_overridden()]})
    assert first.status_code == 200 and second.status_code == 200
    records = store.for_card(CARD)
    assert [r.outcome for r in records] == ["accepted", "overridden"]
    assert records[0].accepted_suggestions == ("1d7c0b52-1f3b-4a5e-8d0c-4b1c2f6e9a22",)
    assert records[1].override_reason["reason"]["code"] == "declined"
    assert records[0].service_id == "deficiency-screen"
    # Durable: a new store on the same file sees what was accepted.
    assert len(SqliteFeedbackStore(str(tmp_path / "feedback.sqlite3")).for_card(CARD)) == 2


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
        # cds-fb-3: an override reason carries a reason or a user comment
        (_overridden(overrideReason={}), "'feedback[0].overrideReason' must carry 'reason' or 'userComment'"),
        # the 2.0 override reason Coding needs both system and code
        (_overridden(overrideReason={"reason": {"code": "declined"}}), "[0].overrideReason.reason.system"),
        (_overridden(overrideReason={"reason": {"system": "https://x.org"}}), "overrideReason.reason.code"),
        (_overridden(overrideReason={"reason": {"system": "", "code": "x"}}), "overrideReason.reason.system"),
    ],
)
def test_invalid_feedback_is_400_naming_the_field(client: FlaskClient, item: dict, field: str) -> None:
    response = client.post(URL, json={"feedback": [item]})
    assert response.status_code == 400
    assert field in response.get_json()["issue"][0]["diagnostics"]


def test_a_bad_item_rejects_the_whole_batch_and_keeps_earlier_feedback(settings, tmp_path: Path) -> None:
    store = SqliteFeedbackStore(str(tmp_path / "f.sqlite3"))
    client = create_app(settings, feedback_store=store).test_client()
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


def test_an_override_with_only_a_comment_or_only_a_reason_is_accepted(client: FlaskClient) -> None:
    comment_only = _overridden(overrideReason={"userComment": "seen elsewhere"})
    reason = {"system": "https://example.org", "code": "declined"}
    reason_only = _overridden(overrideReason={"reason": reason})
    response = client.post(URL, json={"feedback": [comment_only, reason_only]})
    assert response.status_code == 200


def test_an_identical_item_sent_again_is_stored_once(settings, tmp_path: Path) -> None:
    path = str(tmp_path / "feedback.sqlite3")
    client = create_app(settings, feedback_store=SqliteFeedbackStore(path)).test_client()
    body = {"feedback": [_accepted(), _overridden()]}
    assert client.post(URL, json=body).status_code == 200
    retried = client.post(URL, json={"feedback": [_overridden(), _accepted()]})  # a retry, reordered
    assert retried.status_code == 200
    assert retried.get_json() == {"received": 2}
    store = SqliteFeedbackStore(path)
    assert [r.outcome for r in store.for_card(CARD)] == ["accepted", "overridden"]
    # the same card's feedback that differs (a later decision) is still kept
    later = _accepted(outcomeTimestamp="2026-11-20T11:00:00Z")
    assert client.post(URL, json={"feedback": [later]}).status_code == 200
    assert len(store.for_card(CARD)) == 3
    # feedback of another service is another item, even with the same content
    other = "/cds-services/deficiency-order-sign/feedback"
    assert client.post(other, json={"feedback": [later]}).status_code == 200
    assert [r.service_id for r in store.for_card(CARD)][-1] == "deficiency-order-sign"


def test_a_database_written_before_item_keys_gains_them(tmp_path: Path) -> None:
    import sqlite3

    path = str(tmp_path / "old.sqlite3")
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, service_id TEXT NOT NULL,"
            " card TEXT NOT NULL, outcome TEXT NOT NULL, outcome_timestamp TEXT NOT NULL,"
            " accepted_suggestions TEXT NOT NULL, override_reason TEXT, received_at TEXT NOT NULL);"
            "INSERT INTO feedback VALUES (1, 's', 'c', 'accepted', 't', '[]', NULL, 'r');"
        )
    store = SqliteFeedbackStore(path)
    assert [r.card for r in store.for_card("c")] == ["c"]
