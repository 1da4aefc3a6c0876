"""CORS preflight: an empty 204 without a content type, never an empty text/html page."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize(
    "path",
    ["/cds-services", "/cds-services/deficiency-screen", "/cds-services/deficiency-screen/feedback"],
)
def test_preflight_is_an_empty_204(client: FlaskClient, path: str) -> None:
    response = client.options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "OPTIONS" in response.headers["Allow"]


def test_options_on_an_unknown_path_is_still_a_json_404(client: FlaskClient) -> None:
    response = client.options("/no-such-path")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
