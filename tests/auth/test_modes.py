"""Open and JWT modes, startup refusal, preflight and health without tokens, tokens kept out of logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from flask.testing import FlaskClient
from trusted_ehr import (
    ISS,
    JWKS_URL,
    PATHS,
    SERVICE_PATH,
    LogCapture,
    SigningKey,
    call,
    claims_for,
    jwks,
    jwt_settings,
    make_client,
    mint,
)

from cds import cli
from cds.config import ConfigError, IssuerConfig, load_settings
from cds.errors import Unauthorized
from cds.server import serve
from cds.trust.authenticator import Authenticator


def open_settings(**changes: object) -> object:
    return load_settings(environ={}, database_url="sqlite://", **changes)


@pytest.mark.parametrize("endpoint", list(PATHS))
def test_preflight_needs_no_token(client: FlaskClient, endpoint: str) -> None:
    method = "GET" if endpoint == "discovery" else "POST"
    response = client.options(
        PATHS[endpoint],
        headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": method},
    )
    assert response.status_code in (200, 204)
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_health_needs_no_token_and_reports_the_mode(client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()
    assert body["authMode"] == "jwt"
    assert body["acceptsUnauthenticatedCalls"] is False


def test_open_mode_accepts_calls_without_a_token_and_says_so() -> None:
    client = make_client(open_settings())
    assert call(client, "service").status_code == 200
    assert client.get("/healthz").get_json()["acceptsUnauthenticatedCalls"] is True


def test_open_mode_without_issuers_ignores_a_token() -> None:
    client = make_client(open_settings())
    assert call(client, "service", "not.a.token").status_code == 200


def test_open_mode_with_issuers_verifies_a_token_that_is_present(
    served_jwks: responses.RequestsMock, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    client = make_client(jwt_settings(auth_mode="open"))
    assert call(client, "service").status_code == 200
    assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH))).status_code == 200
    expired = mint(keys["ec"], claims_for(SERVICE_PATH, exp=1, iat=0))
    assert call(client, "service", expired).status_code == 401
    assert auth_log.failed_checks() == ["expired"]


def test_public_base_url_sets_the_expected_aud(
    served_jwks: responses.RequestsMock, keys: dict[str, SigningKey]
) -> None:
    client = make_client(jwt_settings(public_base_url="https://cds.example.org/"))
    internal = mint(keys["ec"], claims_for(SERVICE_PATH))  # aud http://localhost/...
    assert call(client, "service", internal).status_code == 401
    public = mint(keys["ec"], claims_for(SERVICE_PATH, aud="https://cds.example.org" + SERVICE_PATH))
    assert call(client, "service", public).status_code == 200


def test_token_never_reaches_the_logs(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    good = mint(keys["ec"], claims_for(SERVICE_PATH, tenant="t-1"))
    forged = mint(keys["stranger"], claims_for(SERVICE_PATH))
    expired = mint(keys["rsa"], claims_for(SERVICE_PATH, exp=1, iat=0))
    for token in (good, good, forged, expired):
        call(client, "service", token)
    assert auth_log.failed_checks() == ["jti_replayed", "bad_signature", "expired"]
    written = "\n".join(auth_log.lines)
    for token in (good, forged, expired):
        for part in token.split("."):
            assert part not in written
    failure = auth_log.events("authentication failed")[0]
    assert failure["iss"] == ISS and failure["kid"] == "ec-1" and failure["tenant"] == "t-1"


def test_same_401_body_whatever_failed(client: FlaskClient, keys: dict[str, SigningKey]) -> None:
    bodies = {
        call(client, "service").data,
        call(client, "service", "garbage").data,
        call(client, "service", mint(keys["stranger"], claims_for(SERVICE_PATH))).data,
        call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH, iss="https://x.example"))).data,
    }
    assert len(bodies) == 1


@pytest.mark.parametrize("algorithm", ["HS256", "HS512", "none"])
def test_configured_hmac_or_none_stops_startup(algorithm: str) -> None:
    issuer = IssuerConfig(ISS, jwks_url=JWKS_URL, algorithms=("RS384", algorithm))
    with pytest.raises(ConfigError, match=algorithm):
        Authenticator(jwt_settings(issuers=(issuer,)))


def test_jwt_mode_without_issuers_refuses_to_load() -> None:
    # What the Docker image does: CDS_AUTH_MODE=jwt and nobody trusted yet.
    with pytest.raises(ConfigError, match="no \\[\\[issuers\\]\\]"):
        load_settings(environ={"CDS_AUTH_MODE": "jwt"})
    assert load_settings(environ={"CDS_AUTH_MODE": "open"}).auth_mode == "open"


def test_jwt_mode_with_issuers_from_the_environment(tmp_path: Path, keys: dict[str, SigningKey]) -> None:
    key_file = tmp_path / "jwks.json"
    key_file.write_text(json.dumps(jwks(keys["ec"])))
    environ = {
        "CDS_AUTH_MODE": "jwt",
        "CDS_ISSUERS": json.dumps([{"iss": ISS, "jwks_file": str(key_file), "tenants": ["a"]}]),
        "CDS_DATABASE_URL": "sqlite://",
        "CDS_PUBLIC_BASE_URL": "http://localhost",
    }
    authenticator = Authenticator(load_settings(environ=environ))
    audience = "http://localhost" + SERVICE_PATH
    caller = authenticator.verify(
        f"Bearer {mint(keys['ec'], claims_for(SERVICE_PATH, tenant='a'))}", audience
    )
    assert (caller.iss, caller.tenant) == (ISS, "a")
    with pytest.raises(Unauthorized):
        authenticator.verify(None, audience)


def test_cli_exits_2_in_jwt_mode_without_issuers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CDS_CONFIG", "CDS_ISSUERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDS_AUTH_MODE", "jwt")
    monkeypatch.setattr(serve, "_run_gunicorn", lambda *a: pytest.fail("must not start serving"))
    assert cli.main(["serve"]) == 2
    assert "issuers" in capsys.readouterr().err


def test_missing_public_base_url_is_warned_about_in_open_mode(auth_log: LogCapture) -> None:
    # Open mode verifies the tokens that are sent; without the setting their aud follows Host.
    issuers = (IssuerConfig(iss=ISS, jwks_url=JWKS_URL),)
    Authenticator(open_settings(issuers=issuers))
    assert auth_log.events(
        "security: public_base_url is not set; the expected JWT aud follows the Host header"
    )
    auth_log.lines.clear()
    Authenticator(jwt_settings(public_base_url="https://cds.example.org"))
    assert not [line for line in auth_log.lines if "public_base_url" in line]


def test_jwt_mode_needs_public_base_url_so_the_host_header_decides_nothing(
    client: FlaskClient, keys: dict[str, SigningKey], served_jwks: responses.RequestsMock
) -> None:
    with pytest.raises(ConfigError, match="'public_base_url' is required when 'auth_mode' is 'jwt'"):
        load_settings(environ={}, auth_mode="jwt", issuers=(IssuerConfig(iss=ISS, jwks_url=JWKS_URL),))
    # A token made for another service's host fails even when the Host header names that host.
    other = "http://other-cds.example" + SERVICE_PATH
    token = mint(keys["ec"], claims_for(SERVICE_PATH, aud=other))
    assert call(client, "service", token, headers={"Host": "other-cds.example"}).status_code == 401
    # Open mode with issuers still follows Host (documented); jwt mode cannot be configured so.
    loose = make_client(open_settings(issuers=(IssuerConfig(iss=ISS, jwks_url=JWKS_URL),)))
    token = mint(keys["ec"], claims_for(SERVICE_PATH, aud=other))
    assert call(loose, "service", token, headers={"Host": "other-cds.example"}).status_code == 200
