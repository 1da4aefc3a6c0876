"""A prefetched Bundle that says it is only part of the list is never taken as the whole list."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import responses

from cds.config import load_settings
from cds.http.app import create_app
from cds.reader import completeness, decode
from tests.prefetch.conftest import Captured, bundle, hook_request, observation
from tests.prefetch.test_prefetch_fallback import post


def _with(**props: Any) -> dict[str, Any]:
    return {**bundle(observation("o1"), observation("o2")), **props}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (_with(total=230), "incomplete: the EHR sent 2 of 230 entries"),
        (_with(link=[{"relation": "next", "url": "https://ehr.example/p2"}]), "did not follow the next link"),
        (_with(total=2), None),
        (_with(), None),
        (_with(link=[{"relation": "self", "url": "https://ehr.example/fhir"}]), None),
        # Resources brought in by _include are not counted against `total`.
        (
            {
                **bundle(),
                "total": 1,
                "entry": [
                    {"resource": observation("o1"), "search": {"mode": "match"}},
                    {"resource": {"resourceType": "Medication", "id": "m"}, "search": {"mode": "include"}},
                ],
            },
            None,
        ),
        (
            {
                **bundle(),
                "total": 2,
                "entry": [
                    {"resource": observation("o1"), "search": {"mode": "match"}},
                    {"resource": {"resourceType": "Medication", "id": "m"}, "search": {"mode": "include"}},
                ],
            },
            "1 of 2",
        ),
        ({"resourceType": "Patient", "id": "p1"}, None),
        (None, None),
        (_with(total=True), None),
    ],
)
def test_incomplete_bundles_are_recognised(value: Any, expected: str | None) -> None:
    state = completeness("observations", decode(value).resource)
    if expected is None:
        assert state is None
    else:
        assert state is not None and expected.removeprefix("incomplete: ") in state.detail


def test_a_partial_prefetch_is_used_and_marked_incomplete(captured: Captured) -> None:
    body = hook_request()
    body["prefetch"]["medicationRequests"] = {**bundle(), "total": 230}
    with responses.RequestsMock() as mock:
        response = post(captured, body)
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert captured.prefetch.data["medicationRequests"].resource.total == 230
    reason = "incomplete: the EHR sent 0 of 230 entries"
    assert captured.prefetch.unavailable == {"medicationRequests": reason}


def test_no_b12_offered_when_the_medication_list_is_a_first_page() -> None:
    """Through the real service: a low B12 with 2 of 230 orders gets no treatment, and says why."""
    app = create_app(load_settings(environ={}, database_url="sqlite://"))
    body = hook_request(server=None, token=None)
    low_b12 = {**observation("o1"), "valueQuantity": {"value": 120, "unit": "pg/mL"}}
    body["prefetch"]["observations"] = bundle({**low_b12, "effectiveDateTime": date.today().isoformat()})
    body["prefetch"]["medicationRequests"] = {**bundle(), "total": 230}
    cards = app.test_client().post("/cds-services/deficiency-screen", json=body).get_json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "b12-deficiency"]
    assert "suggestions" not in card
    assert "only partly available" in card["detail"] and "no treatment is offered" in card["detail"]
    assert "230" not in card["detail"]  # no paging language on a card
    body["prefetch"]["medicationRequests"] = bundle()  # the whole (empty) list: treatment offered
    cards = app.test_client().post("/cds-services/deficiency-screen", json=body).get_json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "b12-deficiency"]
    assert len(card["suggestions"]) == 3


def test_a_fetched_page_whose_total_says_more_is_marked_incomplete(captured: Captured) -> None:
    """Some servers answer one page with the `total` and no next link: the list is not whole."""
    first = {**observation("o1"), "effectiveDateTime": "2026-10-30T08:00:00Z"}
    answer = {**bundle(first), "total": 230}
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:8123/fhir/Observation", json=answer)
        response = post(captured, hook_request(omit=("chemistryObservations",)))
        assert len(mock.calls) == 1
    assert response.status_code == 200
    assert captured.prefetch.fetched == ("chemistryObservations",)
    state = captured.prefetch.key_states["chemistryObservations"]
    assert state.partial and "1 of 230" in state.detail
    assert state.oldest is not None and state.oldest.raw == "2026-10-30T08:00:00Z"
