"""Property tests for the trust layer: no header, header field or claim value can cause a 500,
and a token is only ever accepted when every rule holds."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from hostile import FAST, SERVICE, VALID_CALL, assert_well_formed, encode, json_values, odd_text
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from cds.config import IssuerConfig, load_settings
from cds.http.app import create_app
from cds.services.response import Answer

ISS = "https://ehr.example.org"
AUD = "http://localhost" + SERVICE
KEY = ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    jwk = json.loads(ECAlgorithm.to_jwk(KEY.public_key()))
    jwk.update(kid="k1", alg="ES384")
    key_file = tmp_path_factory.mktemp("jwks") / "jwks.json"
    key_file.write_text(json.dumps({"keys": [jwk]}))
    issuer = IssuerConfig(ISS, jwks_file=str(key_file), tenants=("t1",))
    settings = load_settings(
        environ={},
        auth_mode="jwt",
        issuers=(issuer,),
        database_url="sqlite://",
        public_base_url="http://localhost",
    )

    def no_cards(call: object) -> Answer:
        return Answer()

    return create_app(settings, handlers={"guideline": no_cards, "orders": no_cards})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def good_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISS, "aud": AUD, "exp": now + 60, "iat": now, "jti": str(uuid.uuid4()), "tenant": "t1"}


def post(client: FlaskClient, authorization: str) -> Any:
    return client.post(
        SERVICE,
        data=encode(VALID_CALL),
        content_type="application/json",
        headers={"Authorization": authorization},
    )


def test_the_baseline_token_is_accepted(client: FlaskClient) -> None:
    token = jwt.encode(good_claims(), KEY, algorithm="ES384", headers={"kid": "k1"})
    assert post(client, f"Bearer {token}").status_code == 200


@FAST
@given(header=st.one_of(odd_text, st.builds(lambda s: "Bearer " + s, odd_text)))
def test_any_authorization_header_is_a_plain_401(client: FlaskClient, header: str) -> None:
    latin1 = header.encode("utf-8", "surrogatepass").decode("latin-1")
    if not latin1.strip() or "\n" in latin1 or "\r" in latin1:
        return  # no HTTP server would deliver such a header
    response = post(client, latin1)
    assert response.status_code == 401
    assert assert_well_formed(response)["issue"][0]["diagnostics"] == "authentication failed"


CLAIMS = ["iss", "aud", "exp", "iat", "nbf", "jti", "tenant"]


@FAST
@given(claim=st.sampled_from(CLAIMS), value=json_values)
def test_any_claim_value_is_accepted_only_when_valid(client: FlaskClient, claim: str, value: Any) -> None:
    claims = good_claims()
    claims[claim] = value
    try:
        token = jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1"})
    except (TypeError, ValueError):
        return  # not representable as a JWT at all
    response = post(client, f"Bearer {token}")
    assert_well_formed(response)
    assert response.status_code in (200, 401)
    if response.status_code == 200:
        # Accepted means every rule held for the hostile value.
        now = time.time()
        if claim == "iss":
            assert value == ISS
        elif claim == "aud":
            assert value == AUD or (isinstance(value, list) and AUD in value)
        elif claim == "tenant":
            assert value == "t1"
        elif claim == "jti":
            assert isinstance(value, str) and value
        elif claim in ("exp", "iat", "nbf"):
            assert isinstance(value, int | float) and not isinstance(value, bool)
            if claim == "exp":
                assert value > now - 120 and value - claims["iat"] <= 3600
            else:
                assert value <= now + 120


ES384 = ECAlgorithm(ECAlgorithm.SHA384)


@FAST
@given(
    alg=st.one_of(st.sampled_from(["ES384", "ES256", "RS384", "HS256", "none", "EdDSA", ""]), json_values),
    kid=st.one_of(st.just("k1"), json_values),
    jku=st.one_of(st.none(), odd_text, st.just("https://attacker.example/jwks.json")),
    extra=st.dictionaries(st.sampled_from(["typ", "cty", "x5u", "jwk"]), json_values, max_size=2),
)
def test_any_header_fields_never_cause_a_500(
    client: FlaskClient, alg: Any, kid: Any, jku: Any, extra: Any
) -> None:
    header = {**extra, "alg": alg, "kid": kid}
    if jku is not None:
        header["jku"] = jku
    signing_input = ".".join(
        jwt.utils.base64url_encode(json.dumps(part).encode()).decode() for part in (header, good_claims())
    )
    # Always a genuine ES384 signature by the trusted key: only the header can be wrong.
    signature = jwt.utils.base64url_encode(ES384.sign(signing_input.encode(), KEY)).decode()
    response = post(client, f"Bearer {signing_input}.{signature}")
    assert_well_formed(response)
    accepted = alg == "ES384" and kid == "k1" and jku is None
    assert response.status_code == (200 if accepted else 401)
