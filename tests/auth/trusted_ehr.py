"""Test EHR for the trust tests: its own keys, a JWKS served with `responses`, token minting."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from cds.config import IssuerConfig, Settings, load_settings
from cds.http.app import create_app
from cds.logs import JsonFormatter
from cds.services.response import Answer

ISS = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
BASE = "http://localhost"
SERVICE_PATH = "/cds-services/deficiency-screen"
PATHS = {
    "discovery": "/cds-services",
    "service": SERVICE_PATH,
    "feedback": SERVICE_PATH + "/feedback",
}

PATIENT_VIEW: dict[str, Any] = {
    "hook": "patient-view",
    "hookInstance": "0f6b1b52-2a9c-4d6e-9d8e-6a1f0c0b5e11",
    "context": {"userId": "Practitioner/example", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}
FEEDBACK: dict[str, Any] = {
    "feedback": [
        {
            "card": "7f4b5a9e-0a59-4d3b-9a1e-8c1f7d0f2a10",
            "outcome": "overridden",
            "outcomeTimestamp": "2025-01-01T10:00:00Z",
        }
    ]
}


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any
    public_jwk: dict[str, Any] = field(default_factory=dict)


def _rsa_key(kid: str, alg: str = "RS384") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg=alg, use="sig")
    return SigningKey(kid, alg, private, jwk)


def _ec_key(kid: str) -> SigningKey:
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg="ES384", use="sig")
    return SigningKey(kid, "ES384", private, jwk)


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    """Generated once: key generation is the slow part of these tests."""
    return {
        "rsa": _rsa_key("rsa-1"),
        "ec": _ec_key("ec-1"),
        "rotated": _ec_key("ec-2"),
        "stranger": _rsa_key("rsa-1"),  # same kid as "rsa", different key: a forgery
    }


def jwks(*signing_keys: SigningKey) -> dict[str, Any]:
    return {"keys": [copy.deepcopy(k.public_jwk) for k in signing_keys]}


def claims_for(path: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": BASE + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    for name, value in changes.items():
        if value is _DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


_DROP = object()
DROP: Any = _DROP  # pass as a claim value to leave the claim out


def mint(key: SigningKey, claims: dict[str, Any], **header: Any) -> str:
    headers = {"kid": key.kid, "typ": "JWT", **header}
    headers = {name: value for name, value in headers.items() if value is not _DROP}
    return jwt.encode(claims, key.private, algorithm=key.alg, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_raw(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A token built by hand, for algorithms PyJWT rightly refuses to produce."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


def hmac_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def served_jwks(keys: dict[str, SigningKey]) -> Iterator[responses.RequestsMock]:
    """The EHR's JWKS URL answers with the rsa and ec keys; no other URL is reachable."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json=jwks(keys["rsa"], keys["ec"]))
        yield mock


def jwt_settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_mode": "jwt",
        "issuers": (IssuerConfig(iss=ISS, jwks_url=JWKS_URL),),
        "database_url": "sqlite://",
        "public_base_url": BASE,  # required in jwt mode; tokens name http://localhost/...
    }
    values.update(changes)
    return load_settings(environ={}, **values)


def _cards_stub(call: Any) -> Answer:
    return Answer()


def make_client(settings: Settings) -> FlaskClient:
    # The guideline is stubbed: these tests are about who may call, not what is answered.
    app: Flask = create_app(settings, handlers={"guideline": _cards_stub, "orders": _cards_stub})
    return app.test_client()


@pytest.fixture
def client(served_jwks: responses.RequestsMock) -> FlaskClient:
    return make_client(jwt_settings())


def call(client: FlaskClient, endpoint: str, token: str | None = None, **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers.update(bearer(token))
    path = PATHS[endpoint]
    if endpoint == "discovery":
        return client.get(path, headers=headers, **kwargs)
    body = PATIENT_VIEW if endpoint == "service" else FEEDBACK
    return client.post(path, json=body, headers=headers, **kwargs)


class LogCapture(logging.Handler):
    """Collects the service's structured log lines exactly as they would be written."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in map(json.loads, self.lines) if entry["event"] == name]

    def failed_checks(self) -> list[str]:
        return [entry["check"] for entry in self.events("authentication failed")]


@pytest.fixture
def auth_log() -> Iterator[LogCapture]:
    logger = logging.getLogger("cds")
    capture = LogCapture()
    previous = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(previous)
