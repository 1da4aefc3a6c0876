"""A test EHR for the fleet tests: one signing key, its JWKS in a file, tokens to mint."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISS = "https://ehr.example.org"
PUBLIC_BASE_URL = "https://cds.example.org"  # the address EHRs call; the `aud` of every token


class TestEhr:
    __test__ = False  # not a test class

    def __init__(self, directory: Path) -> None:
        self._key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        jwk.update(kid="fleet-1", alg="ES384", use="sig")
        self.jwks_file = directory / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [jwk]}))

    def settings(self) -> dict[str, str]:
        """The CDS_* variables of a replica that trusts this EHR."""
        issuers = [{"iss": ISS, "jwks_file": str(self.jwks_file), "algorithms": ["ES384"]}]
        return {
            "CDS_AUTH_MODE": "jwt",
            "CDS_ISSUERS": json.dumps(issuers),
            "CDS_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        }

    def token(self, path: str, tenant: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISS,
            "aud": PUBLIC_BASE_URL + path,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            **({"tenant": tenant} if tenant else {}),
        }
        return jwt.encode(claims, self._key, algorithm="ES384", headers={"kid": "fleet-1", "typ": "JWT"})
