"""The built wheel (what the Docker image installs) carries its schemas and knowledge files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SMOKE = """
import json, sys
from pathlib import Path
import cds
from cds.http.app import create_app
from cds.config import load_settings
assert Path(cds.__file__).is_relative_to(Path(sys.argv[1])), cds.__file__
client = create_app(load_settings(database_url="sqlite://")).test_client()
services = client.get("/cds-services").get_json()["services"]
body = json.loads(Path(sys.argv[2]).read_text())
response = client.post("/cds-services/deficiency-screen", json=body)
from cds.server.wsgi import build_app
app = build_app(load_settings(database_url="sqlite://", smart_client_id="x")).test_client()
pages = ("/app/launch?iss=http://127.0.0.1/fhir", "/app/", "/app/static/chart.js")
companion = [app.get(p).status_code for p in pages]
print(json.dumps({"services": [s["id"] for s in services], "status": response.status_code,
                  "cards": len(response.get_json()["cards"]), "companion": companion}))
"""


@pytest.mark.integration
def test_wheel_contains_data_files_and_serves_from_an_installed_copy(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("myelin_cds-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ("hook-request", "feedback", "response", "service-definition"):
        assert f"cds/schemas/{schema}.json" in names
    packaged_knowledge = {n for n in names if n.startswith("cds/knowledge/") and n.endswith(".json")}
    source_knowledge = {f"cds/knowledge/{p.name}" for p in (ROOT / "src/cds/knowledge").glob("*.json")}
    assert source_knowledge and packaged_knowledge == source_knowledge
    companion = ROOT / "src/cds/companion"
    for folder in ("static", "pages"):  # the companion app's pages, scripts and stylesheet
        files = {f"cds/companion/{folder}/{p.name}" for p in (companion / folder).iterdir() if p.is_file()}
        assert files and files <= names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(_minimal_request()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(PYTHONPATH=str(site), CDS_HOOKS_DIR=str(ROOT / "hooks"))
    result = subprocess.run(
        [sys.executable, "-c", _SMOKE, str(site), str(request)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["services"] == ["deficiency-screen", "deficiency-order-select", "deficiency-order-sign"]
    assert outcome["status"] == 200
    assert outcome["cards"] >= 1  # the installed knowledge files drive a real finding
    assert outcome["companion"] == [200, 200, 200]  # the companion app's pages serve from the wheel


def _minimal_request() -> dict:
    low_b12 = {
        "resourceType": "Observation",
        "id": "b12",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "effectiveDateTime": "2026-09-02",
        "valueQuantity": {"value": 150, "unit": "pg/mL", "code": "pg/mL"},
    }
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {
        "hook": "patient-view",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/example", "patientId": "p1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01"},
            "observations": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": low_b12}]},
            "medicationStatements": empty,
            "medicationRequests": empty,
            "conditions": empty,
        },
    }
