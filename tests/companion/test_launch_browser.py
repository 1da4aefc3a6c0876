"""EHR launches of the companion app in a real headless Chromium, against real parts: the EHR
simulator (tests/smartlauncher) in front of the loopback FHIR server seeded with fixtures, and
the service over HTTP. The drawn points and bands are checked against the seeded data, every
failure page is reached the way a clinician would meet it, and the access token is shown never
to reach the service."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from cds.config import load_settings
from cds.server.wsgi import build_app
from tests.browser import ARTIFACTS, headless_chromium
from tests.in_thread import serve_in_thread
from tests.loopback_fhir import FhirServer, resources_of
from tests.smartlauncher.rig import (
    CLIENT_ID,
    OfficialLauncher,
    Simulator,
    fixture_named,
    official_launcher_url,
    smart_rig,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TIMEOUT_S = 3  # the app's FHIR timeout in these tests, so the timeout page comes quickly

# What each launch must draw, from the fixtures as written: result id -> value in the site's unit
# (the days come from the seeded, date-shifted resources), medicine record -> class.
EXPECTED: dict[str, dict[str, Any]] = {
    "b12-treatment-response-history": {
        "panel": "b12",
        "points": {
            "b12_total": {
                "obs-pt-3001-1": 265,
                "obs-pt-3001-2": 142,
                "obs-pt-3001-6": 610,
                "obs-pt-3001-7": 322.49,
                "obs-pt-3001-8": 168,
                "obs-pt-3001-10": 305,
            },
            "holotc": {"obs-pt-3001-3": 19, "obs-pt-3001-12": 48},
            "mma": {"obs-pt-3001-4": 0.52, "obs-pt-3001-9": 0.41},
            "homocysteine": {"obs-pt-3001-5": 21, "obs-pt-3001-11": 13.5},
        },
        "bands": {"MedicationStatement/ms-pt-3001-1": "past", "MedicationRequest/mr-pt-3001-2": "current"},
        "lanes": {
            "MedicationStatement/ms-pt-3001-1": "b12-therapy",
            "MedicationRequest/mr-pt-3001-2": "b12-therapy",
            "MedicationRequest/mr-pt-3001-3": "metformin",
        },
        "set_aside": {},
        "finding": "On B12 therapy: review the response",
    },
    "hypomagnesemia-ppi-furosemide": {
        "panel": "chemistry",
        "app_context": '{"analyte":"magnesium","panel":"chemistry","topic":"hypomagnesemia"}',
        "points": {"magnesium": {"obs-pt-1016-1": 0.5347}, "b12_total": {"obs-pt-1016-2": 480}},
        "bands": {},
        "lanes": {"MedicationRequest/mr-pt-1016-3": "ppi", "MedicationRequest/mr-pt-1016-4": "loop-diuretic"},
        "set_aside": {},
        "finding": "Low magnesium: 1.3 mg/dL (0.53 mmol/L)",
    },
    "hypomagnesemia-ppi-thiazide-history": {
        "panel": "chemistry",
        "app_context": '{"analyte":"potassium","panel":"chemistry","topic":"electrolyte-imbalance"}',
        "points": {
            "magnesium": {
                "obs-pt-3002-1": 0.8227,
                "obs-pt-3002-2": 0.7404,
                "obs-pt-3002-3": 0.6582,
                "obs-pt-3002-4": 0.617,
                "obs-pt-3002-5": 0.55,
            },
            "potassium": {"obs-pt-3002-6": 3.9, "obs-pt-3002-7": 3.6, "obs-pt-3002-9": 3.3},
            "sodium": {"obs-pt-3002-10": 139, "obs-pt-3002-11": 136},
            # Payne: 2.20 + 0.02 x (40 - 38) and 2.02 + 0.02 x (40 - 34); 2.10 has no albumin near it
            "calcium_corrected": {"obs-pt-3002-12": 2.24, "obs-pt-3002-14": 2.10, "obs-pt-3002-15": 2.14},
            "calcium_ionized": {"obs-pt-3002-17": 1.08},
        },
        "bands": {},
        "lanes": {
            "MedicationStatement/ms-pt-3002-1": "ppi",
            "MedicationRequest/mr-pt-3002-2": "thiazide-diuretic",
        },
        "set_aside": {"Observation/obs-pt-3002-8 (Potassium)": "no result: Specimen haemolysed"},
        "finding": "Slightly low potassium: 3.3 mmol/L",
    },
    "unknown-unit-b12-metformin": {
        "panel": "b12",
        "points": {"b12_total": {}},
        "bands": {},
        "lanes": {"MedicationRequest/mr-pt-1036-2": "metformin"},
        "set_aside": {
            "Observation/obs-pt-1036-1 (Vitamin B12)": "unit 'mcg/dL' not recognised for Vitamin B12"
        },
        "finding": "Vitamin B12 test recommended",
    },
}
OTHER_FIXTURES = ("empty-chart", "b12-treatment-monitoring-oral")


class Recorder:
    """WSGI middleware keeping every request the service receives: path, query, headers, body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
        self.seen.append(f"{environ['PATH_INFO']}?{environ.get('QUERY_STRING', '')} {headers} {body!r}")
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def rig() -> Iterator[tuple[FhirServer, Simulator]]:
    with smart_rig() as parts:
        yield parts


@pytest.fixture(scope="module")
def seeded(rig: tuple[FhirServer, Simulator]) -> dict[str, dict[str, Any]]:
    """Each fixture's resources, dates moved to NOW, by fixture name and resource reference."""
    fhir, _simulator = rig
    found = {}
    for name in (*EXPECTED, *OTHER_FIXTURES):
        request = fhir.seed_fixture(fixture_named(name), NOW)
        resources = {f"{r['resourceType']}/{r['id']}": r for r in resources_of(request["prefetch"])}
        found[name] = {"patient": request["context"]["patientId"], "resources": resources}
    return found


@pytest.fixture(scope="module")
def service(rig: tuple[FhirServer, Simulator]) -> Iterator[tuple[str, Recorder]]:
    settings = load_settings(
        environ={},
        database_url="sqlite://",
        log_level="WARNING",
        smart_client_id=CLIENT_ID,
        smart_fhir_timeout_s=TIMEOUT_S,
    )
    recorder = Recorder(build_app(settings, clock=lambda: NOW))
    with serve_in_thread(recorder) as base:
        rig[1].register(CLIENT_ID, f"{base}/app/")
        yield base, recorder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium(network_log=True) as driver:
        yield driver


def _by() -> Any:
    from selenium.webdriver.common.by import By

    return By


def wait_for_app(driver: Any) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d: Any) -> str | None:
        mains = d.find_elements(_by().ID, "main")
        state = mains[0].get_attribute("data-state") if mains else None
        return state if state in {"done", "problem"} else None

    return WebDriverWait(driver, 30).until(settled)


def launch_in_ehr(driver: Any, url: str) -> str:
    """Open the simulated EHR page and follow the app in its 1024x768 frame."""
    driver.switch_to.default_content()
    driver.get(url)
    driver.switch_to.frame(driver.find_element(_by().ID, "app"))
    return wait_for_app(driver)


def ehr_launch(driver: Any, rig: Any, service: Any, patient: str, **config: Any) -> str:
    base, _recorder = service
    official = official_launcher_url()
    if official and not config:  # the happy path can run against the official launcher
        driver.switch_to.default_content()
        driver.get(OfficialLauncher(official, rig[0].base).launch_url(f"{base}/app/launch", patient))
        return wait_for_app(driver)
    return launch_in_ehr(driver, rig[1].ehr_url(f"{base}/app/launch", patient, **config))


def problem_of(driver: Any) -> tuple[str | None, str]:
    sections = driver.find_elements(_by().CSS_SELECTOR, "section.problem")
    if not sections:
        return None, ""
    return sections[0].get_attribute("data-problem"), sections[0].text


def screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.switch_to.default_content()
    frames = driver.find_elements(_by().ID, "app")
    (frames[0] if frames else driver.find_element(_by().TAG_NAME, "body")).screenshot(str(ARTIFACTS / name))


def drawn(driver: Any, selector: str) -> list[dict[str, str]]:
    """The data attributes of every element matching `selector` (read in one script call)."""
    script = (
        "return [...document.querySelectorAll(arguments[0])].map(e => Object.fromEntries("
        "[...e.attributes].filter(a => a.name.startsWith('data-')).map(a => [a.name.slice(5), a.value])"
        ".concat([['left', e.getAttribute('x')], ['width', e.getAttribute('width')]])))"
    )
    return driver.execute_script(script, selector)


def day_of(resource: dict[str, Any]) -> str:
    return str(resource["effectiveDateTime"])[:10]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_an_ehr_launch_draws_the_seeded_results(
    browser: Any, rig: Any, service: Any, seeded: Any, name: str
) -> None:
    expected = EXPECTED[name]
    chart = seeded[name]
    config = {"app_context": expected["app_context"]} if "app_context" in expected else {}
    state = ehr_launch(browser, rig, service, chart["patient"], **config)
    assert state == "done", problem_of(browser)

    points = drawn(browser, ".series-chart .point")
    for analyte, values in expected["points"].items():
        mine = [p for p in points if p["analyte"] == analyte]
        # A corrected calcium names its total and the albumin it was corrected with.
        assert {p["reference"].split(" + ")[0] for p in mine} == {f"Observation/{i}" for i in values}, analyte
        for point in mine:
            total, *albumin = point["reference"].split(" + ")
            assert point["day"] == day_of(chart["resources"][total])
            assert float(point["value"]) == pytest.approx(values[total.split("/")[1]], abs=0.005)
            assert bool(albumin) == (point["kind"] == "corrected")
            for paired in albumin:
                assert "1751-7" in json.dumps(chart["resources"][paired]["code"])
                assert day_of(chart["resources"][paired]) == point["day"]
        by_day = sorted(mine, key=lambda p: p["day"])
        assert [float(p["x"]) for p in by_day] == sorted(float(p["x"]) for p in by_day)  # time runs right
        for a in mine:  # a higher value is drawn higher up (SVG y grows downwards)
            for b in mine:
                if float(a["value"]) < float(b["value"]):
                    assert float(a["y"]) > float(b["y"]), (a["reference"], b["reference"])

    lanes = {lane["reference"]: lane["class"] for lane in drawn(browser, ".medicine-lanes .lane")}
    assert lanes == expected["lanes"]
    bands = drawn(browser, f'.chart[data-panel="{expected["panel"]}"] .series-chart .band')
    assert {b["reference"]: b["state"] for b in bands} == expected["bands"]
    for band in bands:
        record = chart["resources"][band["reference"]]
        start = record.get("effectivePeriod", {}).get("start") or record.get("authoredOn")
        assert band["start"] == start
        end = record.get("effectivePeriod", {}).get("end") or NOW.date().isoformat()
        assert band["end"] == end
        left, right = float(band["left"]), float(band["left"]) + float(band["width"])
        for point in points:
            if start <= point["day"] <= end:
                assert left <= float(point["x"]) <= right + 1, (band["reference"], point["reference"])

    marks = {m["item"]: m["day"] for m in drawn(browser, ".set-aside-mark")}
    assert set(marks) == set(expected["set_aside"])
    rows = browser.find_elements(_by().CSS_SELECTOR, "table.set-aside tbody tr")
    assert {r.get_attribute("data-item"): r.text for r in rows}.keys() == expected["set_aside"].keys()
    for row in rows:
        assert expected["set_aside"][row.get_attribute("data-item")] in row.text

    selected = browser.find_element(_by().CSS_SELECTOR, '[role="tab"][aria-selected="true"]')
    assert selected.get_attribute("data-panel") == expected["panel"]
    findings = [f.text for f in browser.find_elements(_by().CSS_SELECTOR, ".findings .finding")]
    assert any(expected["finding"] in text for text in findings), findings
    if name == "b12-treatment-response-history":
        screenshot(browser, "companion-b12-treatment.png")
    if "app_context" in expected:  # the card's appContext brings its series into view
        focused = browser.find_element(_by().CSS_SELECTOR, ".series.focused")
        assert focused.get_attribute("data-analyte") == json.loads(expected["app_context"])["analyte"]
    if name == "hypomagnesemia-ppi-thiazide-history":
        screenshot(browser, "companion-electrolytes.png")


def test_it_fits_the_frame_and_works_from_the_keyboard(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    assert ehr_launch(browser, rig, service, seeded["b12-treatment-response-history"]["patient"]) == "done"
    width = browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert width[0] <= width[1] <= 1024  # no sideways scrolling in a 1024-wide frame
    tab = browser.find_element(_by().ID, "tab-b12")
    tab.click()
    ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
    assert browser.find_element(_by().ID, "tab-chemistry").get_attribute("aria-selected") == "true"
    assert browser.find_element(_by().ID, "panel-b12").get_attribute("hidden") is not None
    ActionChains(browser).send_keys(Keys.ARROW_LEFT).perform()
    assert browser.switch_to.active_element.get_attribute("id") == "tab-b12"
    for _ in range(30):  # Tab on until a result has the focus: its value shows
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if "point" in (browser.switch_to.active_element.get_attribute("class") or ""):
            break
    focused = browser.switch_to.active_element
    assert focused.get_attribute("data-reference") == "Observation/obs-pt-3001-1"
    tip = browser.find_element(_by().CSS_SELECTOR, "#panel-b12 .tooltip")
    assert tip.is_displayed() and "265 pg/mL as reported" in tip.text
    table_button = browser.find_element(_by().XPATH, '//section[@id="panel-b12"]//button[text()="Table"]')
    table_button.send_keys(Keys.ENTER)
    rows = browser.find_elements(_by().CSS_SELECTOR, "#panel-b12 table.results tbody tr")
    assert len(rows) == 12 and all(r.is_displayed() for r in rows)
    assert "238 pmol/L" in rows[-7].text or any("238 pmol/L" in r.text and "322 ng/L" in r.text for r in rows)
    assert not browser.find_element(_by().CSS_SELECTOR, "#panel-b12 figure.chart").is_displayed()


@pytest.mark.parametrize(
    ("config", "problem", "words"),
    [
        ({"deny": "all"}, "denied", "Access was not granted"),
        ({"withhold": ["patient/Observation"]}, "scopes-denied", "patient/Observation.rs"),
        ({"lifetime": 0}, "session-expired", "Open the app again from the patient's chart"),
        ({"fhir": "401"}, "session-expired", "Your session has ended"),
        ({"fhir": "403"}, "fhir-refused", "HTTP 403"),
        ({"fhir": "500"}, "fhir-error", "HTTP 500"),
        ({"fhir": "timeout"}, "fhir-timeout", f"within {TIMEOUT_S} seconds"),
    ],
)
def test_failures_are_plain_pages(
    browser: Any, rig: Any, service: Any, seeded: Any, config: dict[str, Any], problem: str, words: str
) -> None:
    patient = seeded["b12-treatment-monitoring-oral"]["patient"]
    assert launch_in_ehr(browser, rig[1].ehr_url(f"{service[0]}/app/launch", patient, **config)) == "problem"
    kind, text = problem_of(browser)
    assert kind == problem and words in text and "What to do:" in text, text
    retry = browser.find_elements(_by().CSS_SELECTOR, "button.retry")
    assert bool(retry) == (problem in {"fhir-timeout", "fhir-error"})


def test_no_results_is_said_with_the_findings(browser: Any, rig: Any, service: Any, seeded: Any) -> None:
    assert ehr_launch(browser, rig, service, seeded["empty-chart"]["patient"]) == "problem"
    kind, text = problem_of(browser)
    assert kind == "no-results" and "No results to chart" in text and "What to do:" in text
    assert browser.find_element(_by().CSS_SELECTOR, ".findings").is_displayed()


def test_an_iss_off_the_list_is_refused_before_anything_is_sent(browser: Any, service: Any) -> None:
    base, _recorder = service
    browser.switch_to.default_content()
    browser.get(f"{base}/app/launch?iss=https://fhir.attacker.example/r4&launch=x")
    kind, text = problem_of(browser)
    assert kind == "iss-not-allowed" and "fhir.attacker.example" in text
    assert browser.current_url.startswith(base)  # no redirect anywhere


def test_a_server_that_cannot_be_reached_is_named(browser: Any, service: Any) -> None:
    browser.switch_to.default_content()
    browser.get(f"{service[0]}/app/launch?iss=http://127.0.0.1:9/fhir&launch=x")
    assert wait_for_app(browser) == "problem"
    kind, text = problem_of(browser)
    assert kind == "discovery-failed" and "What to do:" in text


def test_a_reload_or_a_forged_answer_ends_the_session(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    assert ehr_launch(browser, rig, service, seeded["b12-treatment-monitoring-oral"]["patient"]) == "done"
    assert "code=" not in browser.execute_script("return location.href")  # dropped from the address
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    before = browser.find_element(_by().ID, "main")
    browser.execute_script("location.reload()")  # the app's own page, inside the EHR's frame
    WebDriverWait(browser, 10).until(ec.staleness_of(before))
    assert wait_for_app(browser) == "problem" and problem_of(browser)[0] == "no-session"
    browser.switch_to.default_content()
    browser.get(f"{service[0]}/app/?code=stolen&state=forged")
    assert wait_for_app(browser) == "problem" and problem_of(browser)[0] == "state-mismatch"


def test_v1_scopes_for_a_v1_server_and_a_standalone_launch(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    simulator = rig[1]
    patient = seeded["hypomagnesemia-ppi-furosemide"]["patient"]
    assert launch_in_ehr(browser, simulator.ehr_url(f"{service[0]}/app/launch", patient, v1=True)) == "done"
    asked = [r for r in simulator.requests() if r["path"] == "authorize"][-1]
    assert "patient/Observation.read" in asked["scope"] and ".rs" not in asked["scope"]
    browser.switch_to.default_content()
    browser.get(f"{service[0]}/app/launch?iss={simulator.iss(patient=patient)}")
    assert wait_for_app(browser) == "done"
    asked = [r for r in simulator.requests() if r["path"] == "authorize"][-1]
    assert asked["standalone"] and "launch/patient" in asked["scope"].split()
    assert "patient/Observation.rs" in asked["scope"].split()


def test_records_the_app_may_not_read_are_named_not_guessed(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    patient = seeded["b12-treatment-response-history"]["patient"]
    url = rig[1].ehr_url(f"{service[0]}/app/launch", patient, withhold=["patient/MedicationStatement"])
    assert launch_in_ehr(browser, url) == "done"
    notices = browser.find_element(_by().CSS_SELECTOR, ".notices").text
    assert "Not read: medicationStatements (access to MedicationStatement records was not granted)" in notices
    bands = drawn(browser, ".band")
    assert {b["reference"] for b in bands} == {"MedicationRequest/mr-pt-3001-2"}  # the statement was not read


def test_the_token_stays_in_the_browser_and_nothing_else_is_contacted(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    base, recorder = service
    browser.get_log("performance")  # drop what earlier tests did
    assert ehr_launch(browser, rig, service, seeded["hypomagnesemia-ppi-furosemide"]["patient"]) == "done"
    origins = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith("http"):
                parts = urlsplit(url)
                origins.add(f"{parts.scheme}://{parts.netloc}")
    assert origins == {base, rig[1].base}
    tokens = rig[1].tokens()
    assert tokens
    for token in tokens:
        assert not any(token in request for request in recorder.seen)
    assert any("/app/api/chart" in request for request in recorder.seen)


def test_the_patient_banner_only_when_the_ehr_asks_for_one(
    browser: Any, rig: Any, service: Any, seeded: Any
) -> None:
    patient = seeded["b12-treatment-monitoring-oral"]["patient"]
    simulator = rig[1]
    assert launch_in_ehr(browser, simulator.ehr_url(f"{service[0]}/app/launch", patient)) == "done"
    assert "Dorothy Pike" in browser.find_element(_by().ID, "patient-banner").text
    assert (
        launch_in_ehr(browser, simulator.ehr_url(f"{service[0]}/app/launch", patient, banner=False)) == "done"
    )
    assert browser.find_elements(_by().ID, "patient-banner") == []  # need_patient_banner: false
