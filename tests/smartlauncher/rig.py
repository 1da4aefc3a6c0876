"""The SMART test rig: the loopback FHIR server with the EHR simulator in front of it.

`smart_rig()` starts both Node processes on free loopback ports; fixtures are seeded with
their dates moved to a chosen "now". With SMART_LAUNCHER_URL naming a running official
launcher (smart-on-fhir/smart-launcher-v2), `OfficialLauncher` builds its EHR launch URLs
instead (see docs/testing.md); the failure pages always use the simulator, whose behaviour
the tests choose.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from cds.tools.fixtures import Fixture, load_fixture
from tests.loopback_fhir import ROOT, FhirServer, loopback_fhir, node_server

LAUNCHER_DIR = ROOT / "tests" / "smartlauncher"
COMPANION_DATA = ROOT / "tests" / "companion" / "data"
CLIENT_ID = "myelin-companion"


def fixture_named(name: str) -> Fixture:
    """A fixture of fixtures/ or of the companion app's own tests/companion/data/."""
    for directory in (ROOT / "fixtures", COMPANION_DATA):
        path = directory / f"{name}.json"
        if path.exists():
            return load_fixture(path)
    raise FileNotFoundError(name)


def sim(**config: Any) -> str:
    """The simulator's per-server configuration, as the path segment it reads."""
    return base64.urlsafe_b64encode(json.dumps(config).encode()).decode().rstrip("=")


@dataclass
class Simulator:
    base: str

    def register(self, client_id: str, redirect_uri: str) -> None:
        body = {"client_id": client_id, "redirect_uris": [redirect_uri]}
        requests.post(f"{self.base}/__admin/clients", json=body, timeout=10).raise_for_status()

    def list_patients(self, patients: list[dict[str, str]]) -> None:
        requests.post(f"{self.base}/__admin/patients", json=patients, timeout=10).raise_for_status()

    def iss(self, **config: Any) -> str:
        return f"{self.base}/sim/{sim(**config)}/fhir"

    def ehr_url(
        self,
        app_launch: str,
        patient: str,
        *,
        app_context: str | None = None,
        banner: bool = True,
        frame: bool = True,
        **config: Any,
    ) -> str:
        params = {"app": app_launch, "patient": patient, "sim": sim(**config)}
        if app_context is not None:
            params["appContext"] = app_context
        if not banner:
            params["banner"] = "0"
        if not frame:
            params["frame"] = "0"
        return f"{self.base}/ehr?{urlencode(params)}"

    def requests(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.base}/__admin/requests", timeout=10).json()

    def tokens(self) -> list[str]:
        return requests.get(f"{self.base}/__admin/tokens", timeout=10).json()


@dataclass
class OfficialLauncher:
    """A running smart-launcher-v2 (SMART_LAUNCHER_URL), its FHIR server pointed at ours.

    Its EHR launch: the app's launch URL with iss = {launcher}/v/r4/sim/<launch>/fhir and
    launch = <launch>, where <launch> is base64url JSON of its launch options (provider EHR
    launch, the patient, a provider so no login page shows, no encounter, skipped login and
    approval, a public client with PKCE always, our FHIR server). Its FHIR proxy drops the
    bearer token, so our FHIR server then runs with --open.
    """

    base: str
    fhir_base: str

    def launch_url(self, app_launch: str, patient: str) -> str:
        options = [
            0,
            patient,
            "sim-practitioner",
            "NONE",
            1,
            1,
            0,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            0,
            2,
            self.fhir_base,
        ]
        code = base64.urlsafe_b64encode(json.dumps(options).encode()).decode().rstrip("=")
        iss = f"{self.base.rstrip('/')}/v/r4/sim/{code}/fhir"
        return f"{app_launch}?{urlencode({'iss': iss, 'launch': code})}"


def official_launcher_url() -> str | None:
    return os.environ.get("SMART_LAUNCHER_URL") or None


@contextmanager
def smart_rig(*, app_launch: str = "") -> Iterator[tuple[FhirServer, Simulator]]:
    """The FHIR server and the simulator in front of it (open FHIR server when an official
    launcher is named, since its proxy does not pass a token on)."""
    token = secrets.token_urlsafe(24)
    fhir_args = ("--open",) if official_launcher_url() else ("--token", token)
    with loopback_fhir(*fhir_args) as fhir_port:
        fhir = FhirServer(f"http://127.0.0.1:{fhir_port}", token)
        args = ["--fhir", fhir.base, "--fhir-token", token]
        if app_launch:
            args += ["--app", app_launch]
        with node_server(LAUNCHER_DIR, "launcher.mjs", *args) as launcher_port:
            yield fhir, Simulator(f"http://127.0.0.1:{launcher_port}")
