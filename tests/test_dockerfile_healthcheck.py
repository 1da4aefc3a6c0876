"""The image's HEALTHCHECK is the liveness probe, and its command works as written: it passes
while the service answers (even when it is not ready) and fails when nothing answers."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cds.config import IssuerConfig, load_settings
from cds.http.app import create_app
from tests.in_thread import serve_in_thread
from tests.served import free_port

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's CMD, as the image's shell would run it (without the `|| exit 1`)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*? CMD (.+?) \|\| exit 1$", text, re.MULTILINE)
    assert match, "the Dockerfile has no HEALTHCHECK ... CMD ... || exit 1"
    command = shlex.split(match[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def run(port: int) -> int:
    env = {**os.environ, "CDS_PORT": str(port)}
    return subprocess.run(healthcheck_command(), env=env, capture_output=True, timeout=30).returncode


def test_the_image_checks_liveness_and_the_command_passes_while_the_service_answers(tmp_path: Path) -> None:
    assert "/livez" in " ".join(healthcheck_command())
    # jwt mode with an issuer whose key set cannot be had (nothing listens there): answering, not ready.
    issuer = IssuerConfig("https://ehr.example.org", jwks_url=f"https://127.0.0.1:{free_port()}/jwks.json")
    settings = load_settings(environ={}, data_dir=str(tmp_path), auth_mode="jwt",
                             public_base_url="https://cds.example.org", issuers=(issuer,))  # fmt: skip
    app = create_app(settings)
    with serve_in_thread(app) as base:
        port = urlsplit(base).port
        assert port is not None
        assert app.test_client().get("/readyz").status_code == 503
        assert run(port) == 0  # a restart would not bring the key set: not a reason to restart


def test_the_command_fails_when_nothing_answers() -> None:
    assert run(free_port()) != 0
