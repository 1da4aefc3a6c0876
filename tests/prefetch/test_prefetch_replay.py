"""Replaying recorded FHIR traffic offline (fixtures/recordings/, written by `cds fhir-record`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import responses

from cds.cli import main
from cds.config import _REPO_ROOT
from cds.tools.fhir_recording import FhirRecorder, load_fixture, load_recording, replay_fallback

from .conftest import EMPTY_BUNDLE, FHIR, FHIR_ORIGIN, PATIENT, TOKEN, Captured, hook_request, make_app

FIXTURE = _REPO_ROOT / "tests" / "integration" / "data" / "fallback-metformin-low-b12.json"
RECORDING = _REPO_ROOT / "fixtures" / "recordings" / "fallback-metformin-low-b12.json"
RECORDED_ORIGIN = load_recording(RECORDING)["fhirServer"]  # where the committed recording was made
ALLOWED = (RECORDED_ORIGIN, FHIR_ORIGIN)


def _strip_meta(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_meta(v) for k, v in value.items() if k != "meta"}
    if isinstance(value, list):
        return [_strip_meta(v) for v in value]
    return value


def test_committed_recording_replays_offline_with_the_prefetch_data(captured: Captured) -> None:
    fixture = load_fixture(FIXTURE)
    app = make_app(captured, fhir_allowed_servers=ALLOWED)
    prefetched = app.test_client().post("/cds-services/deficiency-screen", json=fixture.request)
    status, body = replay_fallback(app, fixture, "deficiency-screen", load_recording(RECORDING))
    assert status == 200
    assert body["cards"] == prefetched.get_json()["cards"]
    result = captured.prefetch
    assert set(result.fetched) == set(fixture.request["prefetch"])
    patient = fixture.request["prefetch"]["patient"]
    # the elements the service reads (it keeps no others)
    assert result.data["patient"].as_json() == {k: patient[k] for k in ("resourceType", "id", "birthDate")}
    ids = [
        e["resource"]["id"]
        for key in ("b12Observations", "chemistryObservations")
        for e in result.data[key].as_json()["entry"]
    ]
    assert sorted(ids) == ["fb-o1", "fb-o2"]  # the other patient's result is not in the server's answer


def test_replay_refuses_requests_that_were_not_recorded(captured: Captured) -> None:
    fixture = load_fixture(FIXTURE)
    recording = load_recording(RECORDING)
    recording["exchanges"] = [e for e in recording["exchanges"] if "/Observation?" not in e["url"]]
    app = make_app(captured, fhir_allowed_servers=ALLOWED)
    status, body = replay_fallback(app, fixture, "deficiency-screen", recording)
    assert status == 412
    diagnostics = body["issue"][0]["diagnostics"]
    assert "b12Observations" in diagnostics and "chemistryObservations" in diagnostics


def test_recording_holds_answers_but_no_request_headers(captured: Captured) -> None:
    app = make_app(captured, fhir_allowed_servers=ALLOWED)
    recorder = FhirRecorder()
    with responses.RequestsMock() as mock, recorder.attached(app.extensions["cds"].fhir_client):
        mock.get(f"{FHIR}/Patient/p1", json=PATIENT)
        mock.get(f"{FHIR}/Condition", status=503, body="busy")
        app.test_client().post(
            "/cds-services/deficiency-screen", json=hook_request(omit=("patient", "conditions"))
        )
    saved = recorder.to_json(FHIR)
    text = json.dumps(saved)
    assert TOKEN not in text and "Authorization" not in text
    by_url = {e["url"].split("?")[0]: e for e in saved["exchanges"]}
    assert by_url[f"{FHIR}/Patient/p1"]["json"] == PATIENT
    assert by_url[f"{FHIR}/Condition"] == {
        "method": "GET",
        "url": f"{FHIR}/Condition?patient=p1&_count=200",
        "status": 503,
        "contentType": "text/plain",
        "text": "busy",
    }
    assert app.extensions["cds"].fhir_client.observers == []  # detached afterwards


def test_load_recording_rejects_other_files(tmp_path: Path) -> None:
    other = tmp_path / "x.json"
    other.write_text(json.dumps({"cards": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a FHIR recording"):
        load_recording(other)


def test_cli_replay_prints_the_service_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fhir-replay", str(FIXTURE), str(RECORDING)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0]) == {"status": 200}
    assert "cards" in json.loads(out.split("\n", 1)[1])


def test_cli_record_needs_the_token_in_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FHIR_ACCESS_TOKEN", raising=False)
    code = main(["fhir-record", str(FIXTURE), "--fhir-server", FHIR, "--out", str(tmp_path / "r.json")])
    assert code == 2
    assert "FHIR_ACCESS_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_cli_record_writes_a_replayable_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fixture = load_fixture(FIXTURE)
    prefetch = copy.deepcopy(fixture.request["prefetch"])
    monkeypatch.setenv("FHIR_ACCESS_TOKEN", TOKEN)
    out = tmp_path / "rec" / "r.json"
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Patient/fb-p1", json=prefetch["patient"])
        for resource_type in ("Observation", "MedicationStatement", "MedicationRequest", "Condition"):
            mock.get(f"{FHIR}/{resource_type}", json=EMPTY_BUNDLE)
        assert main(["fhir-record", str(FIXTURE), "--fhir-server", FHIR, "--out", str(out)]) == 0
        assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in mock.calls)
    saved = load_recording(out)
    assert len(saved["exchanges"]) == 6  # one per key: the two Observation keys each search once
    assert TOKEN not in out.read_text(encoding="utf-8")
    app = make_app(Captured(), fhir_allowed_servers=ALLOWED)
    status, _ = replay_fallback(app, fixture, "deficiency-screen", saved)
    assert status == 200
