"""Discovery: GET /cds-services lists services from hooks/*.json with only spec fields."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient

from cds.knowledge import load_knowledge
from cds.services.definitions import load_services

ROOT = Path(__file__).resolve().parents[1]


def test_discovery_lists_deficiency_screen_with_its_prefetch_contract(client: FlaskClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    services = {s["id"]: s for s in response.get_json()["services"]}
    service = services["deficiency-screen"]
    assert service["hook"] == "patient-view"
    assert service["title"] and service["description"]
    prefetch = service["prefetch"]
    assert set(prefetch) == {
        "patient",
        "b12Observations",
        "chemistryObservations",
        "medicationStatements",
        "medicationRequests",
        "conditions",
    }
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    for key in ("b12Observations", "chemistryObservations"):
        assert prefetch[key].startswith("Observation?patient={{context.patientId}}&code=")
        assert "_sort=-date" in prefetch[key]  # newest first: a page says how far back it reaches
    # Rare results, all of their history: a page of 100 with no date limit. Frequent ones: the
    # newest 200.
    assert "_count=100" in prefetch["b12Observations"] and "date=" not in prefetch["b12Observations"]
    assert "_count=200" in prefetch["chemistryObservations"]
    assert "status=active" in prefetch["medicationRequests"]


def _template_codes(template: str) -> set[str]:
    return {part.split("|")[1] for part in template.split("code=")[1].split("&")[0].split(",")}


def test_each_observation_template_asks_for_exactly_its_familys_loincs(client: FlaskClient) -> None:
    """The templates cannot drift from the knowledge: each key's codes are those of the analytes
    of its family (labs.json), and together they are every code the engine reads."""
    knowledge = load_knowledge()
    every_lab_code = {code for lab in knowledge.labs.values() for code in lab.loincs}
    # and the tests the cards suggest without interpreting them (a recent one stops a duplicate)
    every_lab_code |= {test.loinc for test in knowledge.tests.values() if test.family}
    issue_contract = {
        "2132-9",
        "14685-2",
        "72160-5",
        "13964-2",
        "13965-9",
        "17861-6",
        "2000-8",
        "1995-0",
        "1994-3",
        "29265-6",
        "1751-7",
        "19123-9",
        "2601-3",
        "2823-3",
        "6298-4",
        "2951-2",
        "2947-0",
        "49765-1",
        "62292-8",  # 25-OH vitamin D: fetched before it is suggested
    }
    definitions = load_services(ROOT / "hooks")
    served = client.get("/cds-services").get_json()["services"]
    assert len(served) == 3
    for service in served:
        definition = definitions[service["id"]]
        asked: set[str] = set()
        for key, template in service["prefetch"].items():
            if not template.startswith("Observation?"):
                continue
            family = definition.observation_keys[key]
            family_codes = knowledge.prefetch_codes(family)
            assert _template_codes(template) == family_codes, key
            asked |= family_codes
        assert asked == every_lab_code  # the engine can read every result the EHR sends
        assert issue_contract <= asked


def test_the_former_single_key_is_accepted_but_not_advertised(client: FlaskClient) -> None:
    for service in client.get("/cds-services").get_json()["services"]:
        definition = load_services(ROOT / "hooks")[service["id"]]
        assert "observations" not in service["prefetch"]
        assert definition.former_prefetch == {"observations": ("b12Observations", "chemistryObservations")}
        assert definition.observation_keys["observations"] == "all"
        assert {"b12Observations", "chemistryObservations"} <= set(definition.required_prefetch)


def test_discovery_shows_only_specification_fields(client: FlaskClient) -> None:
    allowed = {"hook", "id", "title", "description", "prefetch", "usageRequirements", "extension"}
    for service in client.get("/cds-services").get_json()["services"]:
        assert set(service) <= allowed
        assert "myelin" not in service
        # Optional fields with no value are omitted, never empty.
        assert all(value not in (None, "", [], {}) for value in service.values())


def test_discovery_matches_the_definition_files(client: FlaskClient) -> None:
    served = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    files = sorted((ROOT / "hooks").glob("*.json"))
    assert {f.stem for f in files} == set(served)
    for path in files:
        definition = json.loads(path.read_text())
        assert served[path.stem]["prefetch"] == definition["prefetch"]
        assert served[path.stem]["hook"] == definition["hook"]


def test_discovery_answers_with_a_trailing_slash_too(client: FlaskClient) -> None:
    response = client.get("/cds-services/")
    assert response.status_code == 200
    assert response.get_json() == client.get("/cds-services").get_json()


def test_discovery_lists_the_chart_service_first_then_the_order_hooks(client: FlaskClient) -> None:
    hooks = [s["hook"] for s in client.get("/cds-services").get_json()["services"]]
    assert hooks[0] == "patient-view"
    assert hooks == sorted(hooks, key=["patient-view", "order-select", "order-sign"].index)
