"""FHIR fallback against a real FHIR server on loopback (tests/fhirserver/server.mjs).

For every fixture, the server is seeded with the fixture's prefetch resources; the service is
called once with the full prefetch and once with none (fetching everything from the server),
and the two answers must carry the same cards.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds.answer.handlers import HANDLERS
from cds.config import _REPO_ROOT, load_settings
from cds.fhir.client import NOT_PROVIDED
from cds.http.app import create_app
from cds.reader import decode
from cds.services.call import HookCall
from cds.services.definitions import load_services
from cds.services.response import Answer
from cds.tools.fhir_recording import (
    Fixture,
    call_service,
    fallback_request,
    load_fixture,
    load_recording,
    record_fallback,
    replay_fallback,
)
from tests.loopback_fhir import FhirServer, RigError, loopback_fhir, resources_of

pytestmark = pytest.mark.integration

SERVICES = load_services(_REPO_ROOT / "hooks")
OWN_DATA = Path(__file__).parent / "data"


def _fixture_files() -> list[Path]:
    """Fixtures a FHIR server can reproduce; a fixture marked `prefetchOnly` holds a shape only
    a prefetch can carry (a partial page, a subject-less result) and says why."""
    files = [*sorted((_REPO_ROOT / "fixtures").glob("*.json")), *sorted(OWN_DATA.glob("*.json"))]
    return [
        f
        for f in files
        if not f.name.endswith(".expected.json")
        and "prefetchOnly" not in json.loads(f.read_text(encoding="utf-8"))
    ]


@pytest.fixture(scope="session")
def fhir_server() -> Iterator[FhirServer]:
    token = secrets.token_urlsafe(24)
    try:
        with loopback_fhir("--token", token) as port:
            yield FhirServer(base=f"http://127.0.0.1:{port}", token=token)
    except RigError as exc:
        pytest.fail(f"the FHIR fallback integration tests need the loopback FHIR server: {exc}")


class _Spy:
    """Wraps the real handler of each service and keeps the prefetch data it was given."""

    def __init__(self) -> None:
        self.calls: list[HookCall] = []

    def __call__(self, call: HookCall) -> Answer:
        self.calls.append(call)
        return HANDLERS[call.service.handler](call)  # the real handler of the called service


def _app(fixture: Fixture, spy: _Spy, fhir: FhirServer, **overrides: Any) -> Any:
    origin = "/".join(fhir.base.split("/")[:3])  # the loopback server's port, allowed
    allowed = (origin,)
    settings = load_settings(environ={}, database_url="sqlite://", fhir_allowed_servers=allowed, **overrides)
    return create_app(settings, handlers={"guideline": spy, "orders": spy}, clock=lambda: fixture.now)


def _service(path: Path) -> str:
    return json.loads(path.read_text(encoding="utf-8")).get("service", "deficiency-screen")


@pytest.mark.parametrize("path", _fixture_files(), ids=lambda p: p.stem)
def test_fallback_gives_the_same_cards_as_prefetch(fhir_server: FhirServer, path: Path) -> None:
    fixture = load_fixture(path)
    service = _service(path)
    fhir_server.seed(resources_of(fixture.request["prefetch"]), reset=True)
    spy = _Spy()
    app = _app(fixture, spy, fhir_server)

    status, prefetched = call_service(app, service, fixture.request)
    assert status == 200, prefetched
    status, fetched = call_service(
        app, service, fallback_request(fixture.request, f"{fhir_server.base}/", fhir_server.token)
    )
    assert status == 200, fetched

    assert fetched["cards"] == prefetched["cards"]
    result = spy.calls[-1].prefetch
    # Every key the service's discovery asks for, each once (a fixture sending the former single
    # key gets the current keys fetched in its place).
    asked = SERVICES[service].prefetch
    assert set(result.fetched) == set(asked)
    assert result.unavailable == {}
    # The server's answers hold nothing the EHR's prefetch did not (it may hold less: filtering),
    # as far as the service reads them (the server adds meta, which the service does not read).
    assert result.data["patient"].as_json() == decode(fixture.request["prefetch"]["patient"]).as_json()
    stored = resources_of(fixture.request["prefetch"])
    given = {(r["resourceType"], r["id"]): decode(r).as_json() for r in stored}
    for key, value in result.data.items():
        read = value.as_json()
        for entry in read.get("entry", []) if read["resourceType"] == "Bundle" else []:
            resource = entry["resource"]
            assert given[(resource["resourceType"], resource["id"])] == resource, key
    seen = fhir_server.seen()
    assert seen["withToken"] == len(asked)
    assert seen["withoutToken"] == 0


def test_wrong_token_is_refused_by_the_server_and_answered_412(fhir_server: FhirServer) -> None:
    path = _fixture_files()[0]
    fixture = load_fixture(path)
    fhir_server.seed(resources_of(fixture.request["prefetch"]), reset=True)
    app = _app(fixture, _Spy(), fhir_server)
    status, body = call_service(
        app, _service(path), fallback_request(fixture.request, fhir_server.base, "not-the-token")
    )
    assert status == 412
    assert NOT_PROVIDED in body["issue"][0]["diagnostics"]  # the log says "refused access (401)"
    assert fhir_server.seen()["withToken"] == 0


def test_record_then_replay_offline_gives_the_same_cards(fhir_server: FhirServer, tmp_path: Path) -> None:
    path = OWN_DATA / "fallback-metformin-low-b12.json"
    fixture = load_fixture(path)
    fhir_server.seed(resources_of(fixture.request["prefetch"]), reset=True)
    status, recorded_body, recording = record_fallback(
        _app(fixture, _Spy(), fhir_server), fixture, _service(path), fhir_server.base, fhir_server.token
    )
    assert status == 200
    saved = tmp_path / "recording.json"
    saved.write_text(json.dumps(recording), encoding="utf-8")
    assert fhir_server.token not in saved.read_text(encoding="utf-8")
    assert len(recording["exchanges"]) == len(SERVICES[_service(path)].prefetch)

    requests_before = fhir_server.seen()["requests"]
    spy = _Spy()
    status, replayed_body = replay_fallback(
        _app(fixture, spy, fhir_server), fixture, _service(path), load_recording(saved)
    )
    assert status == 200
    assert replayed_body["cards"] == recorded_body["cards"]
    assert set(spy.calls[-1].prefetch.fetched) == set(SERVICES[_service(path)].prefetch)
    assert fhir_server.seen()["requests"] == requests_before  # nothing reached the server


def test_the_split_keys_search_the_server_as_their_templates_say(fhir_server: FhirServer) -> None:
    """The B12 key finds a B12 of five months ago behind a long run of chemistry results:
    each key asks for its own codes, newest first, with its own page size."""
    fixture = load_fixture(OWN_DATA / "fallback-metformin-low-b12.json")
    patient = fixture.request["prefetch"]["patient"]
    pid = patient["id"]
    chemistry = [
        {
            "resourceType": "Observation",
            "id": f"run-{i}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": f"2026-10-{1 + i % 14:02d}T{i % 24:02d}:00:00Z",
            "valueQuantity": {"value": 4.1, "unit": "mmol/L"},
        }
        for i in range(230)
    ]
    old_b12 = {
        "resourceType": "Observation",
        "id": "b12-may",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-05-10T08:00:00Z",
        "valueQuantity": {"value": 150, "unit": "pg/mL"},
    }
    fhir_server.seed([patient, old_b12, *chemistry], reset=True)
    spy = _Spy()
    # The in-memory server searches 230 results slowly on a busy machine: time is not the point here.
    app = _app(fixture, spy, fhir_server, fhir_deadline_s=30.0, fhir_request_timeout_s=25.0)
    body = fallback_request(fixture.request, fhir_server.base, fhir_server.token)
    status, answer = call_service(app, "deficiency-screen", body)
    assert status == 200, answer
    result = spy.calls[-1].prefetch
    b12 = [e["resource"]["id"] for e in result.data["b12Observations"].as_json()["entry"]]
    chem = [e["resource"] for e in result.data["chemistryObservations"].as_json()["entry"]]
    assert b12 == ["b12-may"]
    # The chemistry key's page: the newest of them, as many as its _count, newest first. This
    # server answers one page with the `total` and no next link, so the list is marked short.
    times = [r["effectiveDateTime"] for r in chem]
    newest = sorted((r["effectiveDateTime"] for r in chemistry), reverse=True)
    assert len(chem) == 200 and times == newest[:200]
    assert "the EHR sent 200 of 230 entries" in result.unavailable["chemistryObservations"]
    assert "b12-deficiency" in {c["source"]["topic"]["code"] for c in answer["cards"]}
