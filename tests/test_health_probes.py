"""/livez says the process answers; /readyz says it can work: database at the current schema
and, in jwt mode, every issuer's key set loaded (the database going away: tests/fleet)."""

from __future__ import annotations

from pathlib import Path

import responses
from alembic import command

from cds.config import IssuerConfig, load_settings
from cds.http.app import create_app
from cds.store.database import _alembic_config

JWKS = "https://ehr.example.org/jwks.json"
KEY = {"kty": "EC", "crv": "P-384", "kid": "k1", "x": "x" * 64, "y": "y" * 64}


def test_live_and_ready_on_a_current_database(tmp_path: Path) -> None:
    client = create_app(load_settings(environ={}, data_dir=str(tmp_path))).test_client()
    assert client.get("/livez").get_json() == {"status": "live"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json() == {"status": "ready"}


def test_not_ready_on_an_out_of_date_schema_but_still_live(tmp_path: Path) -> None:
    app = create_app(load_settings(environ={}, data_dir=str(tmp_path)))
    database = app.extensions["cds"].database
    with database.transaction() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    issue = answer.get_json()["issue"][0]
    assert issue["code"] == "transient" and "schema is at revision 0001" in issue["diagnostics"]


def test_jwt_mode_is_ready_only_once_every_key_set_is_loaded(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path), auth_mode="jwt",
                             public_base_url="https://cds.example.org",
                             issuers=(IssuerConfig("https://ehr.example.org", jwks_url=JWKS),))  # fmt: skip
    client = create_app(settings).test_client()
    with responses.RequestsMock() as mock:
        mock.get(JWKS, status=503)
        answer = client.get("/readyz")
    assert answer.status_code == 503
    diagnostics = answer.get_json()["issue"][0]["diagnostics"]
    assert "key set not loaded for issuer 'https://ehr.example.org'" in diagnostics
    client = create_app(settings).test_client()  # a fresh process: no cool-down from the failure
    with responses.RequestsMock() as mock:
        mock.get(JWKS, json={"keys": [KEY]})
        assert client.get("/readyz").status_code == 200
