"""The compiled schema check agrees with jsonschema on every request it is shown."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cds.schemas import fast_check_for, validator_for
from cds.schemas.compiled import UnsupportedSchema, compile_schema
from cds.tools.fixtures import list_fixtures

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = [f.request for f in list_fixtures(ROOT / "fixtures")]
FEEDBACK = {
    "feedback": [
        {
            "card": "9a6a1c43-8f0e-4d5c-9a0e-3f3cf3b7a111",
            "outcome": "overridden",
            "overrideReason": {"reason": {"system": "https://example.org", "code": "declined"}},
            "outcomeTimestamp": "2026-11-20T10:16:00+01:00",
        }
    ]
}

# Values chosen to sit on the schemas' edges: empty and padded strings, ids that do and do not
# match the patterns, integers written as floats, booleans where numbers are expected.
VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            1.0,
            1.5,
            "",
            " ",
            "Bearer",
            "bearer",
            "patient-view",
            "order-select",
            "order-sign",
            "Patient/1",
            "Practitioner/dr-1",
            "Practitioner/",
            "p1",
            "p 1",
            "p1\n",
            "d3f1c3a2-7b4e-4c1a-9f2e-1a2b3c4d5e6f",
            "٣",
            "http://ehr.example",
            "ftp://x",
            "accepted",
            "overridden",
            "Bundle",
            "MedicationRequest/m1",
            [],
            {},
            [{"resource": {}}],
            [{"resource": {"resourceType": "Bundle"}}],
            ["Patient/1"],
            {"resourceType": "Bundle"},
            {"reason": {}},
        ]
    ),
    st.text(max_size=5),
    st.integers(),
)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutate(data: Any, path: tuple, value: Any, delete: bool) -> Any:
    data = copy.deepcopy(data)
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


@st.composite
def mutated(draw: st.DrawFn, bodies: list[Any]) -> Any:
    body = draw(st.sampled_from(bodies))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(body)))
        body = _mutate(body, path, draw(VALUES), draw(st.booleans()))
    return body


@pytest.mark.parametrize("name", ["hook-request", "feedback"])
def test_the_request_schemas_compile(name: str) -> None:
    # A fallback to jsonschema would still be correct, only slower; this keeps it compiled.
    assert fast_check_for(name) is not validator_for(name).is_valid


def test_every_fixture_request_is_valid_to_both() -> None:
    check = fast_check_for("hook-request")
    for request in REQUESTS:
        assert check(request) and validator_for("hook-request").is_valid(request)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated([r for r in REQUESTS if len(str(r)) < 20_000]))
def test_agrees_with_jsonschema_on_mutated_requests(body: Any) -> None:
    assert fast_check_for("hook-request")(body) == validator_for("hook-request").is_valid(body)


@settings(deadline=None)
@given(body=mutated([FEEDBACK]))
def test_agrees_with_jsonschema_on_mutated_feedback(body: Any) -> None:
    assert fast_check_for("feedback")(body) == validator_for("feedback").is_valid(body)


def test_an_unknown_keyword_is_refused_rather_than_ignored() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema({"type": "object", "propertyNames": {"maxLength": 3}})


@pytest.mark.parametrize(
    ("schema", "instance", "valid"),
    [
        ({"type": "integer"}, 3.0, True),
        ({"type": "integer"}, True, False),
        ({"type": "number"}, False, False),
        ({"const": "Bearer"}, "Bearer", True),
        ({"const": "Bearer"}, "bearer", False),
        ({"minimum": 0}, -1, False),
        ({"minimum": 0}, "x", True),
        ({"additionalProperties": {"type": "null"}, "properties": {"a": {}}}, {"a": 1, "b": None}, True),
        ({"additionalProperties": {"type": "null"}, "properties": {"a": {}}}, {"b": 1}, False),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}, False),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"c": 1}, True),
        ({"dependentRequired": {"a": ["b"]}}, {"a": 1}, False),
    ],
)
def test_keywords_mean_what_jsonschema_says(schema: dict, instance: Any, valid: bool) -> None:
    assert compile_schema(schema)(instance) is valid
    assert Draft202012Validator(schema).is_valid(instance) is valid
