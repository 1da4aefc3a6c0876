"""Body parsing: JSON nesting bound computed on the raw bytes, encoding errors, NaN."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.errors import BadRequest
from cds.http.request import nesting_within, parse_json
from tests.conftest import patient_view_request


def _nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


@pytest.mark.parametrize(("depth", "ok"), [(1, True), (63, True), (64, True), (65, False), (5000, False)])
def test_nesting_bound_at_the_limit(depth: int, ok: bool) -> None:
    assert nesting_within(_nested(depth), 64) is ok


@pytest.mark.parametrize(
    "inner",
    [
        json.dumps("[" * 200),  # brackets inside a string are text, not structure
        json.dumps('say "[[[[" \\ ' + "{" * 100),  # escaped quotes and backslashes
        json.dumps("line\n" + "[" * 100 + "\t"),  # escapes right before the closing quote
        json.dumps("\\") + ", " + json.dumps("[" * 100),  # a string ending in an escaped backslash
    ],
)
def test_brackets_inside_strings_do_not_count(inner: str) -> None:
    raw = _nested(3, inner)
    assert json.loads(raw)  # the sample is valid JSON
    assert nesting_within(raw, 4)


def test_objects_and_arrays_both_count() -> None:
    raw = json.dumps({"a": [{"b": [{"c": [1]}]}]}).encode()
    assert nesting_within(raw, 6)
    assert not nesting_within(raw, 5)


def test_parse_json_rejects_deep_bodies_with_the_limit_in_the_message() -> None:
    with pytest.raises(BadRequest, match="deeper than 64 levels"):
        parse_json(_nested(100), max_depth=64)


@pytest.mark.parametrize("raw", [b"[" * 100, b'{"a": ' * 70, b"[" * 5000 + b"]"])
def test_unclosed_deep_bodies_are_reported_as_too_deep(raw: bytes) -> None:
    with pytest.raises(BadRequest, match="deeper than 64 levels"):
        parse_json(raw, max_depth=64)


def test_unclosed_shallow_body_is_reported_as_invalid_json() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(b'{"a": [1, 2', max_depth=64)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_constants_are_named(constant: str) -> None:
    with pytest.raises(BadRequest, match=f"{constant} is not a JSON value"):
        parse_json(f'{{"a": {constant}}}'.encode(), max_depth=64)


def test_invalid_utf8_names_the_byte() -> None:
    with pytest.raises(BadRequest, match="not valid UTF-8"):
        parse_json(b'{"a": "\xff"}', max_depth=64)


def test_empty_body_is_explained() -> None:
    with pytest.raises(BadRequest, match="empty"):
        parse_json(b"  ", max_depth=64)


def test_deep_request_is_400_over_http(client: FlaskClient) -> None:
    body = patient_view_request()
    text = json.dumps(body)[:-1] + ', "extension": {"deep": ' + "[" * 80 + "]" * 80 + "}}"
    response = client.post("/cds-services/deficiency-screen", data=text, content_type="application/json")
    assert response.status_code == 400
    assert "64 levels" in response.get_json()["issue"][0]["diagnostics"]


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


_tricky_text = st.text(alphabet='[]{}"\\:,ab \n\u00e9', max_size=12)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _tricky_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_tricky_text, children, max_size=4),
    max_leaves=40,
)


@settings(deadline=None)
@given(value=_json_values, limit=st.integers(min_value=1, max_value=12), ascii_only=st.booleans())
def test_nesting_bound_agrees_with_a_walk_of_the_parsed_value(
    value: object, limit: int, ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_within(raw, limit) is (_depth(value) <= limit)


def test_a_utf8_byte_order_mark_is_ignored() -> None:
    assert parse_json(b'\xef\xbb\xbf{"a": [1]}', max_depth=8) == {"a": [1]}
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(b'\xef\xbb\xbf\xef\xbb\xbf{"a": 1}', max_depth=8)  # only one is a mark


def test_a_hook_call_may_start_with_one_byte_order_mark_not_two(client: FlaskClient) -> None:
    body = json.dumps(patient_view_request()).encode()
    one = client.post(
        "/cds-services/deficiency-screen", data=b"\xef\xbb\xbf" + body, content_type="application/json"
    )
    assert one.status_code == 200
    two = client.post(
        "/cds-services/deficiency-screen", data=b"\xef\xbb\xbf" * 2 + body, content_type="application/json"
    )
    assert two.status_code == 400
    assert "not valid JSON" in two.get_json()["issue"][0]["diagnostics"]
