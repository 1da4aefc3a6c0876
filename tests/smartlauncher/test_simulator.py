"""The EHR simulator itself, spoken to over HTTP as a SMART client would: it must be as strict
as the specification, or the browser tests would prove nothing about the app."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.loopback_fhir import FhirServer
from tests.smartlauncher.rig import Simulator, smart_rig

pytestmark = pytest.mark.integration

CLIENT = "test-app"
REDIRECT = "http://127.0.0.1:1/app/"
PATIENT = "p-sim-1"
SCOPE = "launch openid fhirUser patient/Patient.r patient/Observation.rs"


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[FhirServer, Simulator]]:
    with smart_rig() as (fhir, simulator):
        simulator.register(CLIENT, REDIRECT)
        fhir.seed(
            [
                {"resourceType": "Patient", "id": PATIENT},
                {"resourceType": "Patient", "id": "p-other"},
                {
                    "resourceType": "Observation",
                    "id": "o-1",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
                    "subject": {"reference": f"Patient/{PATIENT}"},
                },
            ]
        )
        yield fhir, simulator


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def launch_id(simulator: Simulator, **config: Any) -> str:
    page = requests.get(
        simulator.ehr_url("http://127.0.0.1:1/app/launch", PATIENT, frame=False, app_context="ctx", **config),
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 302
    return parse_qs(urlsplit(page.headers["Location"]).query)["launch"][0]


def authorize(
    simulator: Simulator, *, config: dict[str, Any] | None = None, **changes: str
) -> dict[str, str]:
    """The query of the redirect back to the app."""
    config = config or {}
    iss = simulator.iss(**config)
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": "st-1",
        "aud": iss,
        "launch": launch_id(simulator, **config),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **changes,
    }
    answer = requests.get(
        iss.removesuffix("/fhir") + "/auth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    found = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    found["verifier"] = verifier
    found["token_url"] = iss.removesuffix("/fhir") + "/auth/token"
    return found


def exchange(back: dict[str, str], **changes: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": REDIRECT,
        "client_id": CLIENT,
        "code_verifier": back["verifier"],
        **changes,
    }
    return requests.post(back["token_url"], data=form, timeout=10)


def test_discovery_names_the_capabilities_and_s256(rig: tuple[FhirServer, Simulator]) -> None:
    _fhir, simulator = rig
    v2 = requests.get(simulator.iss() + "/.well-known/smart-configuration", timeout=10).json()
    for capability in (
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "context-ehr-patient",
        "permission-v2",
    ):
        assert capability in v2["capabilities"]
    assert v2["code_challenge_methods_supported"] == ["S256"]
    v1 = requests.get(simulator.iss(v1=True) + "/.well-known/smart-configuration", timeout=10).json()
    assert "permission-v2" not in v1["capabilities"] and "permission-v1" in v1["capabilities"]


def test_an_unknown_client_or_redirect_is_never_redirected_to(rig: tuple[FhirServer, Simulator]) -> None:
    _fhir, simulator = rig
    url = simulator.iss().removesuffix("/fhir") + "/auth/authorize"
    for changes in ({"client_id": "other"}, {"redirect_uri": "http://evil.example/"}):
        params = {"client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code", **changes}
        answer = requests.get(url, params=params, allow_redirects=False, timeout=10)
        assert answer.status_code == 400 and "Location" not in answer.headers


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"aud": "http://127.0.0.1:1/fhir"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"launch": "not-a-launch"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_authorize_refuses_what_the_spec_forbids(
    rig: tuple[FhirServer, Simulator], changes: dict[str, str], error: str
) -> None:
    back = authorize(rig[1], **changes)
    assert back["error"] == error and back["state"] == "st-1" and "code" not in back


def test_a_declining_user_and_withheld_scopes(rig: tuple[FhirServer, Simulator]) -> None:
    denied = authorize(rig[1], config={"deny": "all"})
    assert denied["error"] == "access_denied" and denied["state"] == "st-1"
    back = authorize(rig[1], config={"withhold": ["patient/Observation"]})
    granted = exchange(back).json()["scope"].split()
    assert "patient/Observation.rs" not in granted and "patient/Patient.r" in granted


def test_the_code_needs_its_verifier_and_is_used_once(rig: tuple[FhirServer, Simulator]) -> None:
    back = authorize(rig[1])
    wrong = exchange(back, code_verifier=pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(back).status_code == 400  # the failed attempt used it up
    fresh = authorize(rig[1])
    token = exchange(fresh)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["patient"] == PATIENT and body["appContext"] == "ctx"
    assert (
        body["need_patient_banner"] is True
        and body["expires_in"] == 3600
        and body["id_token"].count(".") == 2
    )
    assert exchange(fresh).json()["error"] == "invalid_grant"


def test_the_fhir_proxy_keeps_to_the_token_s_patient_and_scopes(rig: tuple[FhirServer, Simulator]) -> None:
    _fhir, simulator = rig
    token = exchange(authorize(simulator)).json()["access_token"]
    base = simulator.iss()

    def get(path: str, bearer: str | None = token, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return requests.get(f"{base}/{path}", params=params, headers=headers, timeout=10)

    found = get("Observation", patient=PATIENT)
    assert found.status_code == 200
    [entry] = found.json()["entry"]
    assert entry["resource"]["id"] == "o-1"
    assert get("Patient/" + PATIENT).status_code == 200
    assert get("Observation", bearer=None, patient=PATIENT).status_code == 401
    assert get("Observation", bearer="made-up", patient=PATIENT).status_code == 401
    assert get("Patient/p-other").status_code == 403
    assert get("Observation", patient="p-other").status_code == 403
    assert get("Observation").status_code == 403
    assert get("Condition", patient=PATIENT).status_code == 403  # not granted


def test_expiry_refusal_and_timeouts_can_be_simulated(rig: tuple[FhirServer, Simulator]) -> None:
    simulator = rig[1]
    for config, status in (({"lifetime": 0}, 401), ({"fhir": "403"}, 403), ({"fhir": "401"}, 401)):
        token = exchange(authorize(simulator, config=config)).json()["access_token"]
        answer = requests.get(
            f"{simulator.iss(**config)}/Observation",
            params={"patient": PATIENT},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == status, config
    token = exchange(authorize(simulator, config={"fhir": "timeout"})).json()["access_token"]
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{simulator.iss(fhir='timeout')}/Observation",
            params={"patient": PATIENT},
            headers={"Authorization": f"Bearer {token}"},
            timeout=1,
        )
