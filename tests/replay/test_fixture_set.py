"""The scenario fixtures: valid hook requests that together cover what the issue asks for."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds.engine.model import Topic
from cds.http.request import hook_request
from cds.knowledge import load_knowledge
from cds.reader import completeness, decode
from cds.services.definitions import load_services
from cds.tools.fixtures import Fixture, fixture_paths, load_fixture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ALL = [load_fixture(p) for p in fixture_paths([FIXTURES])]
SERVICE_HOOKS = {
    ("deficiency-screen", "patient-view"),
    ("deficiency-order-select", "order-select"),
    ("deficiency-order-sign", "order-sign"),
}
SERVICES = load_services(FIXTURES.parent / "hooks")
KNOWLEDGE = load_knowledge()
RESULT_KEYS = ("b12Observations", "chemistryObservations", "observations")
# What an EHR with the earlier discovery sends: one key for every result.
FORMER_KEYS = {"patient", "observations", "medicationStatements", "medicationRequests", "conditions"}


def raw(fixture: Fixture) -> dict[str, Any]:
    return json.loads(fixture.path.read_text(encoding="utf-8"))


def resources(fixture: Fixture, key: str) -> list[dict[str, Any]]:
    bundle = fixture.request["prefetch"].get(key) or {}
    return [e["resource"] for e in bundle.get("entry", []) if "resource" in e]


def observations(fixture: Fixture) -> list[dict[str, Any]]:
    return [r for key in RESULT_KEYS for r in resources(fixture, key) if r["resourceType"] == "Observation"]


def family(resource: dict[str, Any]) -> str | None:
    codes = [c.get("code") for c in resource.get("code", {}).get("coding", [])]
    analytes = [KNOWLEDGE.analyte_for_loinc(c) for c in codes if isinstance(c, str)]
    return next((KNOWLEDGE.labs[a].family for a in analytes if a), None)


def test_there_are_at_least_30_scenarios() -> None:
    assert len(ALL) >= 30


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_each_fixture_is_a_valid_hook_call(fixture: Fixture) -> None:
    request = hook_request(fixture.request)  # raises on a schema violation
    assert (fixture.service, request.hook) in SERVICE_HOOKS
    # The keys the service's discovery asks for, or the former single key where the fixture says so.
    expected = FORMER_KEYS if "formerDiscovery" in raw(fixture) else set(SERVICES[fixture.service].prefetch)
    assert set(request.prefetch) == expected
    assert request.prefetch["patient"].resource.id == request.patient_id
    assert set(fixture.intent_topics) <= {t.value for t in Topic}
    # The prefetch template asks only for active or on-hold MedicationRequests.
    assert {r["status"] for r in resources(fixture, "medicationRequests")} <= {"active", "on-hold"}


def test_every_topic_is_intended_somewhere_and_absent_somewhere() -> None:
    counts = Counter(t for f in ALL for t in f.intent_topics)
    assert {t.value for t in Topic} <= set(counts)
    assert all(n < len(ALL) for n in counts.values())
    assert sum(not f.intent_topics for f in ALL) >= 5  # charts that must stay silent


def test_every_unit_spelling_is_exercised() -> None:
    seen = {
        (o["code"]["coding"][0]["code"], o["valueQuantity"].get("unit"))
        for f in ALL
        for o in observations(f)
        if "valueQuantity" in o
    }
    required = {
        ("2132-9", "pg/mL"),
        ("2132-9", "ng/L"),
        ("14685-2", "pmol/L"),
        ("72160-5", "pmol/L"),
        ("13964-2", "nmol/L"),
        ("13964-2", "umol/L"),
        ("17861-6", "mg/dL"),
        ("2000-8", "mmol/L"),
        ("2000-8", "meq/L"),
        ("19123-9", "mg/dL"),
        ("2601-3", "mmol/L"),
        ("2601-3", "mEq/L"),
        ("1751-7", "g/dL"),
        ("1751-7", "g/L"),
        ("2132-9", "mcg/dL"),  # the last one is unknown on purpose
    }
    assert required <= seen, sorted(required - seen)


def test_edge_cases_are_present() -> None:
    obs = [(f, o) for f in ALL for o in observations(f)]
    statuses = {o["status"] for _, o in obs}
    assert {"entered-in-error", "preliminary", "cancelled"} <= statuses
    assert any(o.get("valueQuantity", {}).get("comparator") == "<" for _, o in obs)
    assert any(
        not o.get("subject", {}).get("reference", "").endswith(f.request["context"]["patientId"])
        for f, o in obs
    )
    # Shapes production EHRs send: a text value, a reason the value is absent, no subject,
    # a future date, a value no body can have.
    assert any("valueString" in o for _, o in obs)
    assert any("dataAbsentReason" in o for _, o in obs)
    assert any("subject" not in o for _, o in obs)
    assert any(date.fromisoformat(o["effectiveDateTime"][:10]) > f.now.date() for f, o in obs)
    assert any(o.get("valueQuantity", {}).get("value") == 0 for _, o in obs)
    stale = [o for f, o in obs if (f.now.date() - date.fromisoformat(o["effectiveDateTime"][:10])).days > 366]
    assert stale
    ages = [
        # a partial birth date ("2008") as its first day
        (
            f.now.date() - date.fromisoformat((f.request["prefetch"]["patient"]["birthDate"] + "-01-01")[:10])
        ).days
        / 365.25
        for f in ALL
        if "birthDate" in f.request["prefetch"]["patient"]
    ]
    assert min(ages) < 18 and sum(a >= 65 for a in ages) >= 5


def test_medications_use_every_coding_path() -> None:
    concepts = [
        r["medicationCodeableConcept"]
        for f in ALL
        for key in ("medicationStatements", "medicationRequests")
        for r in resources(f, key)
    ]
    systems = [{c["system"] for c in concept.get("coding", [])} for concept in concepts]
    assert any(s == {"http://www.whocc.no/atc"} for s in systems)  # ATC only
    assert any(not s for s in systems)  # text only
    rxnorm_codes = {
        c["code"] for concept in concepts for c in concept.get("coding", []) if c["system"].endswith("rxnorm")
    }
    assert {"6809", "7646"} <= rxnorm_codes  # ingredient level
    assert {"861004", "314200", "310273"} <= rxnorm_codes  # product level (SCD)


@pytest.mark.parametrize("fixture", ALL, ids=[f.name for f in ALL])
def test_each_result_is_under_the_key_of_its_family(fixture: Fixture) -> None:
    """As a FHIR server answers the templates: the B12 key holds B12-family results only, the
    chemistry key no B12-family result (it also carries what no template asks for, to be ignored)."""
    assert {family(r) for r in observations_of(fixture, "b12Observations")} <= {"b12"}
    assert "b12" not in {family(r) for r in observations_of(fixture, "chemistryObservations")}


def observations_of(fixture: Fixture, key: str) -> list[dict[str, Any]]:
    return [r for r in resources(fixture, key) if r["resourceType"] == "Observation"]


def test_the_set_covers_the_former_key_and_pages_on_either_side_of_the_window() -> None:
    former = [f for f in ALL if "formerDiscovery" in raw(f)]
    assert former and all("observations" in f.request["prefetch"] for f in former)
    reach: dict[bool, list[str]] = {True: [], False: []}
    for f in ALL:
        value = decode(f.request["prefetch"].get("chemistryObservations")).resource
        state = completeness("chemistryObservations", value)
        if state is not None and state.oldest is not None:
            window_start = f.now.date().replace(year=f.now.year - 1)
            reach[state.oldest.day < window_start].append(f.name)
    assert reach[True] and reach[False], reach
