"""405 answers name the methods the route does allow (RFC 9110 section 15.5.6)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/cds-services/deficiency-screen", {"POST", "OPTIONS"}),
        ("PUT", "/cds-services/deficiency-screen", {"POST", "OPTIONS"}),
        ("GET", "/cds-services/deficiency-screen/feedback", {"POST", "OPTIONS"}),
        ("POST", "/cds-services", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/cds-services", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_405_carries_allow_and_an_operation_outcome(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers.get("Allow", "").split(",") if m.strip()} == allowed
    assert response.mimetype == "application/json"
    assert response.get_json()["resourceType"] == "OperationOutcome"
