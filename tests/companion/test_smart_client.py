"""The app's SMART client functions under Node: PKCE S256 as RFC 7636 computes it, scope
reading in v1 and v2 spellings, and the allow-list check the browser repeats."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SMART = Path(__file__).resolve().parents[2] / "src" / "cds" / "companion" / "static" / "smart.js"

SCRIPT = """
const smart = await import(process.argv[1]);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = {
  s256: await smart.s256(cases.verifier),
  tokens: [smart.randomToken(32), smart.randomToken(32)],
  mayRead: cases.mayRead.map(([scope, type, permission]) => smart.mayRead(scope, type, permission)),
  allowed: cases.allowed.map(([url, list]) => smart.serverAllowed(url, list)),
};
process.stdout.write(JSON.stringify(out));
"""

MAY_READ = [
    ("patient/Observation.rs", "Observation", "s", True),
    ("patient/Observation.r", "Observation", "s", False),
    ("patient/Observation.read", "Observation", "s", True),
    ("patient/*.read", "Condition", "s", True),
    ("patient/*.*", "Condition", "r", True),
    ("user/Observation.cruds", "Observation", "s", True),
    ("patient/Observation.rs?category=laboratory", "Observation", "s", True),
    ("patient/Observation.write", "Observation", "r", False),
    ("launch openid fhirUser", "Observation", "s", False),
    ("patient/MedicationRequest.rs", "Observation", "s", False),
    ("system/Observation.rs", "Observation", "s", False),
]
ALLOWED = [
    ("http://127.0.0.1:4100/fhir", ["http://127.0.0.1"], True),
    ("http://127.0.0.1:4100/fhir", ["http://127.0.0.1:4200"], False),
    ("https://fhir.example.org/r4", ["https://fhir.example.org:443"], True),
    ("https://fhir.example.org.evil.io/r4", ["https://fhir.example.org"], False),
    ("http://127.0.0.1@evil.io/fhir", ["http://127.0.0.1", "http://evil.io:1"], False),
    ("javascript:alert(1)", ["http://127.0.0.1"], False),
    ("https://fhir.example.org/r4", ["http://fhir.example.org"], False),
]


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to test the companion app's SMART client (install nodejs)")
    cases = {
        "verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "mayRead": [list(c[:3]) for c in MAY_READ],
        "allowed": [[url, allowed] for url, allowed, _ in ALLOWED],
    }
    done = subprocess.run(
        [node, "--input-type=commonjs", "-e", f"(async () => {{ {SCRIPT} }})()", SMART.as_uri()],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return json.loads(done.stdout)


def test_pkce_challenge_is_rfc_7636_s256(results: dict[str, Any]) -> None:
    assert results["s256"] == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B


def test_state_and_verifier_are_fresh_and_url_safe(results: dict[str, Any]) -> None:
    first, second = results["tokens"]
    assert first != second and len(first) == 43
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_granted_scopes_are_read_in_both_spellings(results: dict[str, Any]) -> None:
    assert results["mayRead"] == [expected for *_, expected in MAY_READ]


def test_the_browser_checks_the_allow_list_as_the_service_does(results: dict[str, Any]) -> None:
    assert results["allowed"] == [expected for *_, expected in ALLOWED]
