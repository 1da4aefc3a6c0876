"""OPTIONS outside the service routes: still a JSON answer (the preflight itself: tests/test_cors.py)."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_options_on_an_unknown_path_is_still_a_json_404(client: FlaskClient) -> None:
    response = client.options("/no-such-path")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"
