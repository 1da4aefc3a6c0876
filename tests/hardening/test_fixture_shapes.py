"""Property test: any value of a real request, at any depth, replaced by JSON of another shape
(an object, a list, a number, a string of odd length, null, a bool, a huge integer, nesting as
deep as the body limit allows) is answered with a valid card list or a 4xx OperationOutcome
that names the field, for every service and every fixture; never a 500 or an exception."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hostile import encode, mutated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.config import load_settings
from cds.http.app import create_app
from cds.schemas import validator_for
from cds.tools.fixtures import is_fixture_file, load_fixture

FIXTURE_DIR = Path(__file__).parents[2] / "fixtures"
FIXTURES = [load_fixture(p) for p in sorted(FIXTURE_DIR.iterdir()) if is_fixture_file(p)]
BY_SERVICE: dict[str, list[Any]] = {}
for _fixture in FIXTURES:
    BY_SERVICE.setdefault(_fixture.service, []).append(_fixture)
SETTINGS = load_settings(
    environ={}, database_url="sqlite://", auth_mode="open", issuers=(), log_level="WARNING"
)
RESPONSE = validator_for("response")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every value's path in a JSON document (object keys and list indexes), root excluded."""
    children: Any = ()
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


PATHS = {fixture.name: list(_paths(fixture.request)) for fixture in FIXTURES}


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def _odd(text: str) -> str:
    return text if len(text) % 2 else text + "\u00e9"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**30, -(10**30), 2**64, 10**300, -(2**63) - 1, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=41).map(_odd),
)
shapes = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Any, tuple[Any, ...], Any]:
    service = draw(st.sampled_from(sorted(BY_SERVICE)))
    fixture = draw(st.sampled_from(BY_SERVICE[service]))
    path = draw(st.sampled_from(PATHS[fixture.name]))
    # As deep as the request may nest: the path's own depth plus the new value's.
    room = SETTINGS.max_json_depth - len(path) - 1
    deep = st.integers(min_value=1, max_value=max(1, room)).map(lambda d: _nested(d, "x"))
    value = draw(st.one_of(shapes, deep) if room > 0 else shapes)
    return fixture, path, value


@pytest.fixture(scope="module")
def client_and_clock() -> tuple[FlaskClient, list[datetime]]:
    pinned: list[datetime] = [FIXTURES[0].now]
    return create_app(SETTINGS, clock=lambda: pinned[0]).test_client(), pinned


def _steps(expression: str) -> list[str]:
    """'prefetch.observations.entry[2].resource' -> ['prefetch', 'observations', 'entry', '2', 'resource']"""
    return [step for step in re.split(r"[.\[\]]+", expression) if step]


# A field whose value another field points into: mutating the target may leave the pointer
# dangling, and the answer then rightly names the pointer (order-select's selections name
# entries of draftOrders; an empty entry list leaves `selections[0]` naming nothing).
_POINTED_INTO = {("context", "draftOrders"): ("context", "selections")}


def _names_the_field(outcome: dict[str, Any], path: tuple[Any, ...]) -> bool:
    """The OperationOutcome's expression is the mutated field, an ancestor (where the shape
    stops being readable), a descendant (a required member the new value lacks), or a field
    that points into the mutated one."""
    mutated_steps = [str(step) for step in path]
    pointers = [list(p) for into, p in _POINTED_INTO.items() if tuple(mutated_steps[: len(into)]) == into]
    for issue in outcome["issue"]:
        for expression in issue.get("expression", []):
            steps = _steps(expression)
            shared = min(len(steps), len(mutated_steps))
            if steps and steps[:shared] == mutated_steps[:shared]:
                return True
            if any(steps[: len(pointer)] == pointer for pointer in pointers):
                return True
    return False


@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutations())
def test_any_field_of_any_fixture_in_any_shape(
    client_and_clock: tuple[FlaskClient, list[datetime]], case: tuple[Any, tuple[Any, ...], Any]
) -> None:
    client, pinned = client_and_clock
    fixture, path, value = case
    pinned[0] = fixture.now
    response = client.post(
        f"/cds-services/{fixture.service}",
        data=encode(mutated(fixture.request, path, value)),
        content_type="application/json",
    )
    assert response.status_code == 200 or 400 <= response.status_code < 500, (
        response.status_code,
        path,
        response.data[:300],
    )
    body = json.loads(response.data)
    if response.status_code == 200:
        errors = [e.message for e in RESPONSE.iter_errors(body)]
        assert not errors, (path, errors)
    else:
        assert body["resourceType"] == "OperationOutcome", body
        assert body["issue"][0]["diagnostics"].strip()
        assert _names_the_field(body, path), (path, body)
