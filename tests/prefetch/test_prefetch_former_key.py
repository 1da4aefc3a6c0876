"""The former single `observations` key: accepted from an EHR that cached the earlier discovery,
standing in for the two keys that replaced it; never fetched, never advertised."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from cds.reader import KeyProblem

from .conftest import EMPTY_BUNDLE, FHIR, TOKEN, Captured, bundle, hook_request, make_app, observation

OBS_URL = f"{FHIR}/Observation"
CURRENT = ("b12Observations", "chemistryObservations")


def former(
    value: Any = EMPTY_BUNDLE, *, server: str | None = FHIR, keep: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A call as an EHR with the earlier discovery sends it: `observations` instead of the two
    current keys (or beside those of them in `keep`)."""
    omit = tuple(k for k in CURRENT if k not in keep)
    body = hook_request(server=server, token=TOKEN if server else None, omit=omit)
    body["prefetch"]["observations"] = value
    return body


def post(captured: Captured, body: dict[str, Any]) -> Any:
    return make_app(captured).test_client().post("/cds-services/deficiency-screen", json=body)


@pytest.mark.parametrize("server", [FHIR, None], ids=["with-server", "without-server"])
def test_the_former_key_stands_in_for_the_current_ones_and_nothing_is_fetched(
    captured: Captured, server: str | None
) -> None:
    with responses.RequestsMock() as mock:
        response = post(captured, former(bundle(observation("o1")), server=server))
        assert len(mock.calls) == 0
    assert response.status_code == 200
    result = captured.prefetch
    assert set(result.data) >= {"observations", "patient", "medicationRequests"}
    assert not set(CURRENT) & set(result.data)
    assert result.key_states == {} and result.fetched == ()


def test_null_under_the_former_key_means_no_results(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        response = post(captured, former(None))
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert captured.prefetch.data["observations"].as_json() is None
    assert captured.prefetch.key_states == {}


def test_former_and_current_keys_together_are_all_used(captured: Captured) -> None:
    body = former(bundle(observation("o1")), keep=CURRENT)
    body["prefetch"]["b12Observations"] = bundle(observation("o2"))
    with responses.RequestsMock() as mock:
        assert post(captured, body).status_code == 200
        assert len(mock.calls) == 0
    assert {"observations", *CURRENT} <= set(captured.prefetch.data)


def test_one_current_key_beside_the_former_one_is_not_fetched_either(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        assert post(captured, former(keep=("b12Observations",))).status_code == 200
        assert len(mock.calls) == 0
    assert "chemistryObservations" not in captured.prefetch.data


def test_a_failed_former_key_stands_in_for_nothing_412_says_so(captured: Captured) -> None:
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    response = post(captured, former(failed, server=None))
    assert response.status_code == 412
    text = response.get_json()["issue"][0]["diagnostics"]
    why = "not prefetched, and the EHR's prefetch of observations failed (OperationOutcome)"
    for key in CURRENT:
        assert f"{key}: {why}" in text
    assert not captured.calls


def test_a_failed_former_key_has_the_current_keys_fetched(captured: Captured) -> None:
    failed = {"resourceType": "OperationOutcome", "issue": []}
    with responses.RequestsMock() as mock:
        mock.get(OBS_URL, json=bundle(observation("o1")))
        response = post(captured, former(failed))
        assert len(mock.calls) == 2
    assert response.status_code == 200
    assert set(captured.prefetch.fetched) == set(CURRENT)
    assert "observations" not in captured.prefetch.data


def test_neither_former_nor_current_keys_fetches_the_current_ones(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        mock.get(OBS_URL, json=EMPTY_BUNDLE)
        response = post(captured, hook_request(omit=CURRENT))
        queries = sorted(call.request.url or "" for call in mock.calls)
    assert response.status_code == 200
    assert set(captured.prefetch.fetched) == set(CURRENT)
    assert len(queries) == 2 and not any("observations" in q for q in queries)
    assert [("_count=100" in q, "_count=200" in q) for q in queries].count((True, False)) == 1


def test_a_partial_former_key_is_marked_incomplete_with_how_far_back_it_reaches(captured: Captured) -> None:
    first = {**observation("o1"), "effectiveDateTime": "2026-10-30T08:00:00Z"}
    second = {**observation("o2"), "effectiveDateTime": "2026-10-20T08:00:00Z"}
    response = post(captured, former({**bundle(first, second), "total": 900}, server=None))
    assert response.status_code == 200
    state = captured.prefetch.key_states["observations"]
    assert state.problem is KeyProblem.PARTIAL and "2 of 900" in state.detail
    assert state.oldest is not None and state.oldest.raw == "2026-10-20T08:00:00Z"


def test_a_former_first_page_is_completed_from_the_server(captured: Captured) -> None:
    first = bundle(observation("o1"), next_url=f"{OBS_URL}?page=2")
    with responses.RequestsMock() as mock:
        mock.get(OBS_URL, json=bundle(observation("o2")))
        response = post(captured, former(first))
        assert len(mock.calls) == 1
    assert response.status_code == 200
    assert captured.prefetch.fetched == ("observations",)
    assert captured.prefetch.key_states == {}
    ids = [e["resource"]["id"] for e in captured.prefetch.data["observations"].as_json()["entry"]]
    assert ids == ["o1", "o2"]
