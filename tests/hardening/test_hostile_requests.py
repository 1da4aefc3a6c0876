"""Property tests: whatever a client or attacker sends, every endpoint answers with a clear,
well-formed JSON response and never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hostile import (
    CALL_FIELDS,
    DELETE,
    FAST,
    FEEDBACK,
    FEEDBACK_FIELDS,
    PREFETCH_KEYS,
    SERVICE,
    VALID_CALL,
    VALID_FEEDBACK,
    assert_well_formed,
    encode,
    json_values,
    mutated,
    odd_text,
    prefetch_values,
)
from hypothesis import example, given
from hypothesis import strategies as st

from cds.config import load_settings
from cds.http.app import create_app


@pytest.fixture(scope="module")
def app() -> Flask:
    # The real handlers: the guideline engine is part of what must survive hostile input.
    return create_app(load_settings(environ={}, database_url="sqlite://"))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def post_json(client: FlaskClient, path: str, body: Any) -> Any:
    return client.post(path, data=encode(body), content_type="application/json")


def test_valid_call_is_answered_with_cards(client: FlaskClient) -> None:
    # The baseline the mutations start from must itself succeed, or they prove nothing.
    assert_well_formed(post_json(client, SERVICE, VALID_CALL), endpoint="service")
    assert post_json(client, SERVICE, VALID_CALL).status_code == 200
    assert post_json(client, FEEDBACK, VALID_FEEDBACK).status_code == 200


@FAST
@given(body=json_values)
def test_service_survives_any_json_body(client: FlaskClient, body: Any) -> None:
    assert_well_formed(post_json(client, SERVICE, body), endpoint="service")


@FAST
@given(path=st.sampled_from(CALL_FIELDS), value=st.one_of(st.just(DELETE), json_values))
@example(path=("hook",), value="\ud800")
@example(path=("context", "patientId"), value="\u202ep1\x00")
@example(path=("prefetch",), value=[])
@example(path=("fhirAuthorization",), value={"access_token": "t"})
def test_service_survives_any_field_of_any_type(
    client: FlaskClient, path: tuple[str, ...], value: Any
) -> None:
    response = post_json(client, SERVICE, mutated(VALID_CALL, path, value))
    body = assert_well_formed(response, endpoint="service")
    if response.status_code == 400:
        assert body["issue"][0]["diagnostics"] != "internal error while processing the request"


@FAST
@given(prefetch=st.fixed_dictionaries({key: prefetch_values for key in PREFETCH_KEYS}))
@example(  # once a 500: a resourceType that is not a string
    prefetch={
        **dict.fromkeys(PREFETCH_KEYS),
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": {"resourceType": []}}],
        },
    }
)
def test_service_survives_unexpected_resources_in_every_prefetch_key(
    client: FlaskClient, prefetch: dict[str, Any]
) -> None:
    response = post_json(client, SERVICE, mutated(VALID_CALL, ("prefetch",), prefetch))
    assert_well_formed(response, endpoint="service")


@FAST
@given(key=st.sampled_from(PREFETCH_KEYS), value=prefetch_values)
def test_service_survives_one_hostile_key_among_good_ones(client: FlaskClient, key: str, value: Any) -> None:
    response = post_json(client, SERVICE, mutated(VALID_CALL, ("prefetch", key), value))
    assert_well_formed(response, endpoint="service")


@FAST
@given(body=json_values)
def test_feedback_survives_any_json_body(client: FlaskClient, body: Any) -> None:
    assert_well_formed(post_json(client, FEEDBACK, body))


@FAST
@given(path=st.sampled_from(FEEDBACK_FIELDS), value=st.one_of(st.just(DELETE), json_values))
def test_feedback_survives_any_field_of_any_type(
    client: FlaskClient, path: tuple[Any, ...], value: Any
) -> None:
    assert_well_formed(post_json(client, FEEDBACK, mutated(VALID_FEEDBACK, path, value)))


RAW_BODIES = [
    b"",
    b"   ",
    b"null",
    b"NaN",
    b'{"hook": NaN}',
    b'{"context": {"patientId": Infinity}}',
    b"[-Infinity]",
    b"1" * 5000,  # more digits than Python will turn into an int
    b'{"n": 1e400}',
    b'{"n": -1e400}',
    b"\xff\xfe{}",
    b"\xef\xbb\xbf{}",  # UTF-8 byte order mark
    b'{"hook": "patient-view"',
    b'{"a": 1, "a": 2}',
    b"\x00",
    b'{"hook": "\\ud800"}',
    b'"' + b"\\u0000" * 100 + b'"',
]


@pytest.mark.parametrize("body", RAW_BODIES, ids=range(len(RAW_BODIES)))
@pytest.mark.parametrize("path", [SERVICE, FEEDBACK])
def test_raw_hostile_bodies(client: FlaskClient, path: str, body: bytes) -> None:
    response = client.post(path, data=body, content_type="application/json")
    assert_well_formed(response, endpoint="service" if path == SERVICE else "")
    assert response.status_code != 200 or path == SERVICE


@FAST
@given(body=st.binary(max_size=300))
def test_any_bytes(client: FlaskClient, body: bytes) -> None:
    assert_well_formed(client.post(SERVICE, data=body, content_type="application/json"), endpoint="service")


@FAST
@given(service_id=odd_text.filter(lambda s: s not in {"", "deficiency-screen"}))
def test_unknown_service_ids(client: FlaskClient, service_id: str) -> None:
    quoted = quote(service_id.encode("utf-8", "surrogatepass"), safe="")
    for response in (
        client.post(f"/cds-services/{quoted}", data=encode(VALID_CALL), content_type="application/json"),
        client.post(
            f"/cds-services/{quoted}/feedback", data=encode(VALID_FEEDBACK), content_type="application/json"
        ),
    ):
        assert_well_formed(response)
        assert response.status_code in (404, 405)


@FAST
@given(
    content_type=st.one_of(
        st.sampled_from(
            ["text/plain", "application/xml", "multipart/form-data; boundary=x", "", "application/fhir+json"]
        ),
        odd_text,
    ),
    authorization=st.one_of(st.none(), odd_text),
)
def test_odd_headers(client: FlaskClient, content_type: str, authorization: str | None) -> None:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.encode("utf-8", "surrogatepass").decode("latin-1")
    try:
        response = client.post(SERVICE, data=encode(VALID_CALL), content_type=content_type, headers=headers)
    except (ValueError, UnicodeError):
        return  # the test client itself refuses a header no HTTP server would pass on
    assert_well_formed(response, endpoint="service")
    assert client.get("/cds-services", headers=headers).status_code == 200


def test_thousands_of_resources_are_answered(client: FlaskClient) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "valueQuantity": {
            "value": 350,
            "unit": "pg/mL",
            "system": "http://unitsofmeasure.org",
            "code": "pg/mL",
        },
        "effectiveDateTime": "2024-06-01",
    }
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": observation}] * 3000}
    response = post_json(client, SERVICE, mutated(VALID_CALL, ("prefetch", "observations"), bundle))
    assert response.status_code == 200
    assert_well_formed(response, endpoint="service")


def test_health_and_discovery_ignore_query_noise(client: FlaskClient) -> None:
    for path in ("/healthz?x=%00", "/cds-services?%ff=%fe", "/cds-services/?"):
        response = client.get(path)
        assert_well_formed(response)
