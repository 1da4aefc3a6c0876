"""A signed JWT from a trusted EHR is accepted; every way of getting it wrong gives a bare 401."""

from __future__ import annotations

import time
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from trusted_ehr import (
    BASE,
    DROP,
    ISS,
    JWKS_URL,
    PATHS,
    SERVICE_PATH,
    LogCapture,
    SigningKey,
    call,
    claims_for,
    hmac_with,
    jwks,
    jwt_settings,
    make_client,
    mint,
    mint_raw,
)

from cds.config import IssuerConfig

GENERIC_401 = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication failed"}],
}


def assert_rejected(response: Any, auth_log: LogCapture, check: str) -> None:
    assert response.status_code == 401
    assert response.get_json() == GENERIC_401  # no hint for an attacker
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert auth_log.failed_checks()[-1] == check


@pytest.mark.parametrize("endpoint", ["discovery", "service", "feedback"])
@pytest.mark.parametrize("key_name", ["rsa", "ec"])
def test_valid_token_is_accepted_on_every_endpoint(
    client: FlaskClient, keys: dict[str, SigningKey], endpoint: str, key_name: str
) -> None:
    token = mint(keys[key_name], claims_for(PATHS[endpoint]))
    response = call(client, endpoint, token)
    assert response.status_code == 200, response.get_json()


def test_aud_may_be_a_list_containing_the_url(client: FlaskClient, keys: dict[str, SigningKey]) -> None:
    token = mint(keys["ec"], claims_for(SERVICE_PATH, aud=["https://other.example", BASE + SERVICE_PATH]))
    assert call(client, "service", token).status_code == 200


def test_tokens_are_required_in_jwt_mode(client: FlaskClient, auth_log: LogCapture) -> None:
    for endpoint in PATHS:
        assert_rejected(call(client, endpoint), auth_log, "missing_token")


@pytest.mark.parametrize(
    ("header", "check"),
    [
        ("Basic dXNlcjpwYXNz", "malformed_header"),
        ("Bearer", "malformed_header"),
        ("Bearer two tokens", "malformed_header"),
        ("Bearer not-a-jwt", "malformed_token"),
        ("Bearer a.b.c", "malformed_token"),
        ("Bearer " + "x" * 20_000, "token_too_large"),
    ],
)
def test_malformed_authorization_header(
    client: FlaskClient, auth_log: LogCapture, header: str, check: str
) -> None:
    response = call(client, "service", headers={"Authorization": header})
    assert_rejected(response, auth_log, check)


def _now() -> int:
    return int(time.time())


FAILING_CLAIMS: dict[str, tuple[dict[str, Any], str]] = {
    "expired": ({"exp": _now() - 600, "iat": _now() - 900}, "expired"),
    "nbf in the future": ({"nbf": _now() + 600}, "not_yet_valid"),
    "iat in the future": ({"iat": _now() + 600, "exp": _now() + 700}, "not_yet_valid"),
    "wrong aud": ({"aud": "https://evil.example/cds-services/deficiency-screen"}, "aud_mismatch"),
    "aud of the discovery endpoint": ({"aud": BASE + "/cds-services"}, "aud_mismatch"),
    "aud of the feedback endpoint": ({"aud": BASE + SERVICE_PATH + "/feedback"}, "aud_mismatch"),
    "unknown iss": ({"iss": "https://ehr.example.org.evil"}, "iss_unknown"),
    "missing jti": ({"jti": DROP}, "jti_missing"),
    "empty jti": ({"jti": ""}, "jti_invalid"),
    "jti not a string": ({"jti": 12345}, "jti_invalid"),
    "missing exp": ({"exp": DROP}, "exp_missing"),
    "missing iat": ({"iat": DROP}, "iat_missing"),
    "missing aud": ({"aud": DROP}, "aud_missing"),
    "lifetime too long": ({"exp": _now() + 7200}, "lifetime_too_long"),
}


@pytest.mark.parametrize("case", list(FAILING_CLAIMS))
def test_bad_claims_are_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture, case: str
) -> None:
    changes, check = FAILING_CLAIMS[case]
    token = mint(keys["rsa"], claims_for(SERVICE_PATH, **changes))
    assert_rejected(call(client, "service", token), auth_log, check)


def test_forged_signature_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    # Same kid as the EHR's key, signed by someone else's private key.
    token = mint(keys["stranger"], claims_for(SERVICE_PATH))
    assert_rejected(call(client, "service", token), auth_log, "bad_signature")


def test_tampered_payload_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    genuine = mint(keys["ec"], claims_for(SERVICE_PATH))
    other = mint(keys["ec"], claims_for(SERVICE_PATH, tenant="someone-else"))
    header, _, signature = genuine.split(".")
    spliced = ".".join([header, other.split(".")[1], signature])
    assert_rejected(call(client, "service", spliced), auth_log, "bad_signature")


def test_alg_none_is_rejected(client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture) -> None:
    token = mint_raw({"alg": "none", "kid": "rsa-1", "typ": "JWT"}, claims_for(SERVICE_PATH), lambda _: b"")
    assert_rejected(call(client, "service", token), auth_log, "alg_not_allowed")


def test_hs256_signed_with_the_public_key_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    # The classic key-confusion attack: the public key, which anyone has, used as an HMAC secret.
    from cryptography.hazmat.primitives import serialization

    public_pem = (
        keys["rsa"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    token = mint_raw(header, claims_for(SERVICE_PATH), hmac_with(public_pem))
    assert_rejected(call(client, "service", token), auth_log, "alg_not_allowed")


def test_missing_kid_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    token = mint(keys["rsa"], claims_for(SERVICE_PATH), kid=DROP)
    assert_rejected(call(client, "service", token), auth_log, "kid_missing")


def test_key_of_the_wrong_type_for_the_alg_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    # An RSA signature claiming the EC key's kid.
    token = mint(keys["rsa"], claims_for(SERVICE_PATH), kid="ec-1")
    assert_rejected(call(client, "service", token), auth_log, "key_alg_mismatch")


def test_alg_outside_the_issuers_list_is_rejected(
    served_jwks: responses.RequestsMock, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    client = make_client(jwt_settings(issuers=(IssuerConfig(ISS, jwks_url=JWKS_URL, algorithms=("ES384",)),)))
    assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH))).status_code == 200
    response = call(client, "service", mint(keys["rsa"], claims_for(SERVICE_PATH)))
    assert_rejected(response, auth_log, "alg_not_allowed")


def test_unknown_kid_is_rejected_after_one_refetch(
    client: FlaskClient,
    served_jwks: responses.RequestsMock,
    keys: dict[str, SigningKey],
    auth_log: LogCapture,
) -> None:
    token = mint(keys["rotated"], claims_for(SERVICE_PATH))  # ec-2 is not published
    assert_rejected(call(client, "service", token), auth_log, "kid_unknown")
    assert len(served_jwks.calls) == 2  # the first load and one refetch


def test_jku_not_on_the_list_is_rejected_without_fetching_it(
    client: FlaskClient,
    served_jwks: responses.RequestsMock,
    keys: dict[str, SigningKey],
    auth_log: LogCapture,
) -> None:
    evil = "https://attacker.example/jwks.json"
    served_jwks.get(evil, json=jwks(keys["stranger"]))
    token = mint(keys["stranger"], claims_for(SERVICE_PATH), jku=evil)
    assert_rejected(call(client, "service", token), auth_log, "jku_not_trusted")
    assert all(c.request.url != evil for c in served_jwks.calls)


def test_jku_equal_to_the_configured_url_is_accepted(
    client: FlaskClient, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ec"], claims_for(SERVICE_PATH), jku=JWKS_URL)
    assert call(client, "service", token).status_code == 200


def test_replayed_jti_is_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    token = mint(keys["ec"], claims_for(SERVICE_PATH))
    assert call(client, "service", token).status_code == 200
    assert_rejected(call(client, "service", token), auth_log, "jti_replayed")


def test_same_jti_from_a_new_token_is_still_a_replay(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture
) -> None:
    first = mint(keys["ec"], claims_for(SERVICE_PATH, jti="fixed-id"))
    second = mint(keys["rsa"], claims_for(SERVICE_PATH, jti="fixed-id"))
    assert call(client, "service", first).status_code == 200
    assert_rejected(call(client, "service", second), auth_log, "jti_replayed")


def test_rejected_token_does_not_use_up_its_jti(client: FlaskClient, keys: dict[str, SigningKey]) -> None:
    wrong_aud = mint(keys["ec"], claims_for(SERVICE_PATH, jti="j-1", aud=BASE + "/cds-services"))
    assert call(client, "service", wrong_aud).status_code == 401
    assert call(client, "service", mint(keys["ec"], claims_for(SERVICE_PATH, jti="j-1"))).status_code == 200


class TestTenants:
    @pytest.fixture
    def tenant_client(self, served_jwks: responses.RequestsMock) -> FlaskClient:
        issuer = IssuerConfig(ISS, jwks_url=JWKS_URL, tenants=("clinic-a", "clinic-b"))
        return make_client(jwt_settings(issuers=(issuer,)))

    def test_listed_tenant_is_accepted(self, tenant_client: FlaskClient, keys: dict[str, SigningKey]) -> None:
        token = mint(keys["ec"], claims_for(SERVICE_PATH, tenant="clinic-b"))
        assert call(tenant_client, "service", token).status_code == 200

    @pytest.mark.parametrize("tenant", ["clinic-c", DROP, ["clinic-a"]])
    def test_other_or_missing_tenant_is_rejected(
        self, tenant_client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture, tenant: Any
    ) -> None:
        token = mint(keys["ec"], claims_for(SERVICE_PATH, tenant=tenant))
        assert_rejected(call(tenant_client, "service", token), auth_log, "tenant_not_allowed")


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_boolean_time_claims_are_rejected(
    client: FlaskClient, keys: dict[str, SigningKey], auth_log: LogCapture, claim: str
) -> None:
    claims = claims_for(SERVICE_PATH)
    claims[claim] = claim != "nbf"  # true or false: neither is a time
    assert_rejected(call(client, "service", mint(keys["rsa"], claims)), auth_log, f"{claim}_invalid")
