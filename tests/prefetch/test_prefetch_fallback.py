"""Prefetch resolution through the HTTP API, with the FHIR server mocked by `responses`."""

from __future__ import annotations

import io
import json
import shutil
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from cds.config import _REPO_ROOT
from cds.fhir.client import NOT_PROVIDED

from .conftest import (
    EMPTY_BUNDLE,
    FHIR,
    PATIENT,
    TOKEN,
    Captured,
    bundle,
    fallback_failures,
    hook_request,
    make_app,
    observation,
)

SERVICE = "/cds-services/deficiency-screen"
OBS_KEY = "chemistryObservations"  # one of the two Observation keys: both follow the same rules
OBS_URL = f"{FHIR}/Observation"
COND_URL = f"{FHIR}/Condition"
MEDREQ_URL = f"{FHIR}/MedicationRequest"
MEDSTAT_URL = f"{FHIR}/MedicationStatement"
PATIENT_URL = f"{FHIR}/Patient/p1"


def post(captured: Captured, body: dict[str, Any], **settings: Any) -> Any:
    return make_app(captured, **settings).test_client().post(SERVICE, json=body)


def diagnostics(response: Any) -> str:
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


# --- prefetch as sent by the EHR


def test_full_prefetch_makes_no_request_even_with_a_server(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        response = post(captured, hook_request())
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert captured.prefetch.data["patient"].as_json() == PATIENT
    assert captured.prefetch.fetched == ()
    assert captured.prefetch.unavailable == {}


def test_null_prefetch_means_no_such_data_and_is_not_fetched(captured: Captured) -> None:
    body = hook_request(server=None, token=None)
    body["prefetch"]["conditions"] = None
    body["prefetch"]["medicationRequests"] = None
    with responses.RequestsMock() as mock:
        response = post(captured, body)
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert captured.prefetch.data["conditions"].as_json() is None
    assert captured.prefetch.data["medicationRequests"].as_json() is None
    assert captured.prefetch.unavailable == {}


def test_wrong_resource_type_in_prefetch_is_passed_on(captured: Captured) -> None:
    body = hook_request(server=None, token=None)
    body["prefetch"]["conditions"] = {"resourceType": "Basic", "id": "b1"}
    assert post(captured, body).status_code == 200
    assert captured.prefetch.data["conditions"].as_json() == {"resourceType": "Basic", "id": "b1"}


def test_operation_outcome_as_prefetch_is_fetched_instead(captured: Captured) -> None:
    body = hook_request()
    body["prefetch"][OBS_KEY] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    fresh = bundle(observation("o1"))
    with responses.RequestsMock() as mock:
        mock.get(OBS_URL, json=fresh)
        response = post(captured, body)
    assert response.status_code == 200
    assert captured.prefetch.data[OBS_KEY].as_json()["entry"] == fresh["entry"]
    assert captured.prefetch.fetched == (OBS_KEY,)


def test_operation_outcome_as_prefetch_without_server_is_412(captured: Captured) -> None:
    body = hook_request(server=None, token=None)
    body["prefetch"]["medicationRequests"] = {"resourceType": "OperationOutcome", "issue": []}
    response = post(captured, body)
    assert response.status_code == 412
    text = diagnostics(response)
    assert "medicationRequests" in text and "OperationOutcome" in text
    assert not captured.calls


# --- missing keys without a way to fetch them


def test_missing_required_keys_without_server_is_412_naming_them(captured: Captured) -> None:
    response = post(captured, hook_request(server=None, token=None, omit=("patient", OBS_KEY)))
    assert response.status_code == 412
    body = response.get_json()
    issue = body["issue"][0]
    assert issue["code"] == "incomplete"
    assert issue["expression"] == ["prefetch"]
    assert "patient: not prefetched" in issue["diagnostics"]
    assert "chemistryObservations: not prefetched" in issue["diagnostics"]
    assert "no FHIR server access" in issue["diagnostics"]


def test_server_without_token_cannot_fetch(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        response = post(captured, hook_request(token=None, omit=(OBS_KEY,)))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert OBS_KEY in diagnostics(response)


def test_missing_optional_key_without_server_is_reported_unavailable(captured: Captured) -> None:
    response = post(captured, hook_request(server=None, token=None, omit=("conditions",)))
    assert response.status_code == 200
    assert "conditions" not in captured.prefetch.data
    assert captured.prefetch.unavailable["conditions"].startswith("not prefetched")


# --- fallback


def test_one_missing_key_is_fetched_with_the_token(captured: Captured) -> None:
    conditions = bundle({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}})
    with responses.RequestsMock() as mock:
        mock.get(COND_URL, json=conditions)
        response = post(captured, hook_request(omit=("conditions",)))
        request = mock.calls[0].request
    assert response.status_code == 200
    assert captured.prefetch.data["conditions"].as_json()["entry"] == conditions["entry"]
    assert captured.prefetch.fetched == ("conditions",)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/fhir+json"
    assert request.url == f"{COND_URL}?patient=p1&_count=200"


def test_patient_read_is_fetched_as_a_resource(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json=PATIENT)
        response = post(captured, hook_request(omit=("patient",)))
    assert response.status_code == 200
    assert captured.prefetch.data["patient"].as_json() == PATIENT


def test_server_base_with_trailing_slash(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json=PATIENT)
        response = post(captured, hook_request(server=FHIR + "/", omit=("patient",)))
    assert response.status_code == 200


def test_several_missing_keys_are_fetched_concurrently(captured: Captured) -> None:
    keys = (OBS_KEY, "medicationRequests", "conditions")
    # Each answer waits until all three requests are in flight: serial fetching breaks the barrier.
    barrier = threading.Barrier(len(keys), timeout=5)
    threads: set[str] = set()

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        threads.add(threading.current_thread().name)
        barrier.wait()
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(EMPTY_BUNDLE)

    with responses.RequestsMock() as mock:
        for url in (OBS_URL, MEDREQ_URL, COND_URL):
            mock.add_callback(responses.GET, url, callback=answer)
        response = post(captured, hook_request(omit=keys), fhir_deadline_s=10.0)
    assert response.status_code == 200
    assert not barrier.broken
    assert len(threads) == 3
    assert set(captured.prefetch.fetched) == set(keys)


def paged_observations(last_page: int | None) -> Any:
    """A callback serving page N (from ?page=N, default 1) with a next link up to last_page."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url or "").query)
        number = int(query.get("page", ["1"])[0])
        # Page 2 links on with a relative URL, as some servers do.
        link = f"{OBS_URL}?page={number + 1}" if number != 2 else f"Observation?page={number + 1}"
        more = last_page is None or number < last_page
        page = bundle(observation(f"o{number}"), next_url=link if more else None)
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(page)

    return answer


def test_next_links_are_followed_and_pages_merged(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, OBS_URL, callback=paged_observations(last_page=3))
        response = post(captured, hook_request(omit=(OBS_KEY,)))
        assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in mock.calls)
        assert len(mock.calls) == 3
    assert response.status_code == 200
    merged = captured.prefetch.data[OBS_KEY].as_json()
    assert merged["type"] == "searchset"
    assert [e["resource"]["id"] for e in merged["entry"]] == ["o1", "o2", "o3"]
    assert "link" not in merged


def test_page_cap_stops_paging_and_reports_the_key_missing(captured: Captured, log_text: io.StringIO) -> None:
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, OBS_URL, callback=paged_observations(last_page=None))
        response = post(captured, hook_request(omit=(OBS_KEY,)), fhir_max_pages=2)
        assert len(mock.calls) == 2
    assert response.status_code == 412
    assert OBS_KEY in diagnostics(response) and NOT_PROVIDED in diagnostics(response)
    assert "more than 2 pages" in fallback_failures(log_text)[OBS_KEY]


def test_next_link_to_another_origin_is_not_followed(captured: Captured, log_text: io.StringIO) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(COND_URL, json=bundle(next_url="http://evil.example/fhir/Condition?page=2"))
        mock.get("http://evil.example/fhir/Condition", json=bundle())
        mock.get("http://127.0.0.1:9999/fhir/Condition", json=bundle())
        response = post(captured, hook_request(omit=("conditions",)))
        assert [c.request.url.split("?")[0] for c in mock.calls] == [COND_URL]
    assert response.status_code == 200
    assert NOT_PROVIDED in captured.prefetch.unavailable["conditions"]
    assert "another server" in fallback_failures(log_text)["conditions"]


def test_next_link_to_another_port_on_the_same_host_is_not_followed(captured: Captured) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(COND_URL, json=bundle(next_url="http://127.0.0.1:9999/fhir/Condition?page=2"))
        mock.get("http://127.0.0.1:9999/fhir/Condition", json=bundle())
        post(captured, hook_request(omit=("conditions",)))
        assert len(mock.calls) == 1
    assert "conditions" in captured.prefetch.unavailable


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "refused access (401)"),
        (403, "refused access (403)"),
        (404, "(404)"),
        (500, "answered 500"),
        (503, "answered 503"),
        (302, "redirect"),
    ],
)
def test_fhir_error_status_on_required_key_is_412(
    captured: Captured, status: int, reason: str, log_text: io.StringIO
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(
            MEDREQ_URL,
            json={"resourceType": "OperationOutcome", "issue": []},
            status=status,
            headers={"Location": "http://evil.example/"} if status == 302 else None,
        )
        response = post(captured, hook_request(omit=("medicationRequests",)))
        assert len(mock.calls) == 1
    assert response.status_code == 412
    text = diagnostics(response)
    assert "medicationRequests" in text and NOT_PROVIDED in text and reason not in text
    assert reason in fallback_failures(log_text)["medicationRequests"]
    assert not captured.calls


@pytest.mark.parametrize("status", [401, 404, 500])
def test_fhir_error_on_optional_key_is_reported_unavailable(
    captured: Captured, status: int, log_text: io.StringIO
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(COND_URL, status=status, body="")
        response = post(captured, hook_request(omit=("conditions",)))
    assert response.status_code == 200
    assert NOT_PROVIDED in captured.prefetch.unavailable["conditions"]
    assert str(status) in fallback_failures(log_text)["conditions"]
    assert "conditions" not in captured.prefetch.data


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), "did not answer within"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "did not answer within"),
        (requests.exceptions.ConnectionError("refused"), "could not connect"),
    ],
)
def test_timeouts_and_connection_errors_are_412(
    captured: Captured, error: Exception, reason: str, log_text: io.StringIO
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(OBS_URL, body=error)
        mock.get(PATIENT_URL, json=PATIENT)
        response = post(captured, hook_request(omit=(OBS_KEY, "patient")))
    assert response.status_code == 412
    text = diagnostics(response)
    assert OBS_KEY in text and NOT_PROVIDED in text
    assert reason in fallback_failures(log_text)[OBS_KEY]
    assert "patient" not in text.split("(", 1)[1].split(":")[0]  # the patient read succeeded


def test_request_timeout_setting_is_passed_to_requests(captured: Captured) -> None:
    seen: list[Any] = []
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json=PATIENT)
        original = requests.Session.send

        def spy(self: requests.Session, request: Any, **kwargs: Any) -> Any:
            seen.append(kwargs.get("timeout"))
            return original(self, request, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(requests.Session, "send", spy)
            post(captured, hook_request(omit=("patient",)), fhir_request_timeout_s=0.7)
    assert seen and 0 < seen[0] <= 0.7


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>login</html>", "not JSON"),
        ('{"resourceType": "OperationOutcome", "issue": []}', "OperationOutcome"),
        ("[1, 2]", "not a FHIR resource"),
    ],
)
def test_unusable_200_answers_count_as_missing(
    captured: Captured, body: str, reason: str, log_text: io.StringIO
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, body=body, status=200)
        response = post(captured, hook_request(omit=("patient",)))
    assert response.status_code == 412
    assert NOT_PROVIDED in diagnostics(response)
    assert reason in fallback_failures(log_text)["patient"]


def test_deadline_exceeded_is_412_and_does_not_wait_for_the_server(
    captured: Captured, log_text: io.StringIO
) -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        release.wait(10)  # the service must answer before this is released
        finished.set()
        return 200, {}, json.dumps(EMPTY_BUNDLE)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, OBS_URL, callback=stuck)
        mock.get(PATIENT_URL, json=PATIENT)
        try:
            response = post(captured, hook_request(omit=(OBS_KEY, "patient")), fhir_deadline_s=0.05)
            answered_while_stuck = not release.is_set()
        finally:
            release.set()
            finished.wait(10)  # let the abandoned fetch end inside the mock
    assert answered_while_stuck
    assert response.status_code == 412
    text = diagnostics(response)
    assert OBS_KEY in text and NOT_PROVIDED in text
    assert "deadline" in fallback_failures(log_text)[OBS_KEY]


# --- allow-list and token hygiene


@pytest.mark.parametrize(
    "server",
    [
        "https://fhir.example.org/R4",
        "http://localhost.evil.example/fhir",
        "http://127.0.0.1@evil.example/fhir",
    ],
)
def test_server_not_on_allow_list_gets_412_and_no_request(
    captured: Captured, log_text: io.StringIO, server: str
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://fhir.example.org/R4/Observation", json=EMPTY_BUNDLE)
        mock.get("http://localhost.evil.example/fhir/Observation", json=EMPTY_BUNDLE)
        mock.get("http://evil.example/fhir/Observation", json=EMPTY_BUNDLE)
        response = post(captured, hook_request(server=server, omit=(OBS_KEY,)))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert response.get_json()["issue"][0]["expression"] == ["fhirServer"]
    warnings = [json.loads(line) for line in log_text.getvalue().splitlines() if "allow-list" in line]
    assert warnings and warnings[0]["level"] == "warning"
    assert TOKEN not in log_text.getvalue()


def test_configured_production_server_is_allowed(captured: Captured) -> None:
    with responses.RequestsMock() as mock:
        mock.get("https://fhir.example.org/R4/Observation", json=EMPTY_BUNDLE)
        response = post(
            captured,
            hook_request(server="https://fhir.example.org/R4", omit=(OBS_KEY,)),
            fhir_allowed_servers=("https://fhir.example.org",),
        )
        assert mock.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert response.status_code == 200


def test_not_allowed_server_is_harmless_when_nothing_is_missing(captured: Captured) -> None:
    response = post(captured, hook_request(server="https://fhir.example.org/R4"))
    assert response.status_code == 200


def test_token_is_never_logged(captured: Captured, log_text: io.StringIO) -> None:
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json=PATIENT)
        mock.get(OBS_URL, status=401, body="")
        mock.get(COND_URL, body=requests.exceptions.ConnectTimeout(f"timeout for {COND_URL}"))
        mock.get(MEDSTAT_URL, body="not json")
        response = post(
            captured, hook_request(omit=("patient", OBS_KEY, "conditions", "medicationStatements"))
        )
    assert response.status_code == 412
    logged = log_text.getvalue()
    assert '"event":"fhir fallback"' in logged
    assert TOKEN not in logged
    assert TOKEN not in response.get_data(as_text=True)


def test_fallback_log_line_names_keys_pages_and_duration(captured: Captured, log_text: io.StringIO) -> None:
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json={**PATIENT, "name": [{"family": "Secretname"}]})
        mock.get(COND_URL, status=500, body="")
        post(captured, hook_request(omit=("patient", "conditions")))
    lines = [json.loads(x) for x in log_text.getvalue().splitlines() if '"event":"fhir fallback"' in x]
    assert len(lines) == 1
    line = lines[0]
    assert line["keys"] == ["conditions", "patient"]
    assert line["fetched"] == ["patient"]
    assert line["failed"] == {"conditions": "http_error: FHIR server answered 500"}
    assert line["pages"] == 1  # pages received; the failed request is not a page
    assert line["duration_ms"] >= 0
    assert line["server"] == "http://127.0.0.1:8123"
    assert "Secretname" not in log_text.getvalue()


def test_client_is_created_once_with_a_sized_pool(captured: Captured) -> None:
    app = make_app(captured, fhir_pool_size=7)
    client = app.extensions["cds"].fhir_client
    with responses.RequestsMock() as mock:
        mock.get(PATIENT_URL, json=PATIENT)
        for _ in range(2):
            app.test_client().post(SERVICE, json=hook_request(omit=("patient",)))
    session = client._resources()[0]
    assert session.get_adapter(FHIR)._pool_maxsize == 7
    assert client._resources()[0] is session


# --- templates that cannot be filled


@pytest.fixture
def user_patient_hooks(tmp_path: Path) -> Path:
    """deficiency-screen with conditions keyed on {{userPatientId}} (unfillable for a practitioner)."""
    source = _REPO_ROOT / "hooks" / "deficiency-screen.json"
    definition = json.loads(source.read_text(encoding="utf-8"))
    definition["prefetch"]["conditions"] = "Condition?patient={{userPatientId}}"
    (tmp_path / "deficiency-screen.json").write_text(json.dumps(definition), encoding="utf-8")
    return tmp_path


def test_unfillable_optional_key_is_unavailable(captured: Captured, user_patient_hooks: Path) -> None:
    with responses.RequestsMock() as mock:
        response = post(captured, hook_request(omit=("conditions",)), hooks_dir=str(user_patient_hooks))
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert "needs a Patient user" in captured.prefetch.unavailable["conditions"]


def test_unfillable_template_is_filled_for_the_right_user(
    captured: Captured, user_patient_hooks: Path
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(COND_URL, json=EMPTY_BUNDLE)
        post(
            captured, hook_request(omit=("conditions",), user="Patient/p1"), hooks_dir=str(user_patient_hooks)
        )
        assert mock.calls[0].request.url.endswith("Condition?patient=p1")
    assert captured.prefetch.fetched == ("conditions",)


def test_unfillable_required_key_is_412(captured: Captured, tmp_path: Path) -> None:
    source = _REPO_ROOT / "hooks" / "deficiency-screen.json"
    shutil.copy(source, tmp_path / "deficiency-screen.json")
    definition = json.loads(source.read_text(encoding="utf-8"))
    definition["prefetch"]["patient"] = "Patient/{{userPatientId}}"
    (tmp_path / "deficiency-screen.json").write_text(json.dumps(definition), encoding="utf-8")
    with responses.RequestsMock() as mock:
        response = post(captured, hook_request(omit=("patient",)), hooks_dir=str(tmp_path))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "patient" in diagnostics(response) and "needs a Patient user" in diagnostics(response)
